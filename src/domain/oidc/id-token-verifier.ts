import { createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { Clock } from "../../clock.js";
import type { BoundedCache } from "../cache/bounded-cache.js";
import type { Caches } from "../cache/caches.js";
import { normalizeEmail } from "../auth/email.js";
import { DomainError, invalidArgument, unauthenticated } from "../errors.js";
import type { ReasonFor } from "../error-reasons.js";

/** An issuer whose ID tokens Warden accepts: the built-in Google one or an admin's connector. */
export interface OidcProvider {
  /** Connector id; "google" for the built-in provider. */
  id: string;
  /** The canonical issuer: identities are stored under it. */
  issuer: string;
  /** `iss` values accepted (the issuer, plus Google's host-only form). */
  acceptedIssuers: string[];
  /** Accepted `aud` values. */
  clientIds: string[];
  jwksUrl: string;
}

/** What a verified ID token proves: who the provider says this is, with a verified email. */
export interface VerifiedIdToken {
  issuer: string;
  subject: string;
  email: string;
  name: string;
}

export interface IdTokenVerifierOptions {
  /** How long one JWKS fetch may take. */
  timeoutMs: number;
  /** After a fetch, an unknown `kid` does not trigger another fetch for this long. */
  cooldownMs: number;
  /** Keys are refetched after this long. */
  cacheMaxAgeMs: number;
  /** Allowed skew between the provider's clock and ours. */
  clockToleranceSeconds: number;
  /** Tokens issued longer ago than this are refused, whatever their `exp`. */
  maxTokenAgeSeconds: number;
}

export const DEFAULT_VERIFIER_OPTIONS: IdTokenVerifierOptions = {
  timeoutMs: 5_000,
  cooldownMs: 30_000,
  cacheMaxAgeMs: 10 * 60_000,
  clockToleranceSeconds: 30,
  maxTokenAgeSeconds: 86_400,
};

/** Asymmetric signatures only: never `none`, never a shared secret (HS*). */
export const ID_TOKEN_ALGORITHMS = ["RS256", "ES256", "EdDSA"];
/** Headers that would let a token name its own key: refused outright. */
const FORBIDDEN_HEADERS = ["jku", "jwk", "x5u", "x5c", "crit"];
const MAX_TOKEN_CHARS = 16 * 1024;
const MAX_CACHED_KEY_SETS = 256;
/** A key set is rebuilt after a day, dropping jose's cooldown state with it. */
const KEY_SET_IDLE_SECONDS = 86_400;

/** The provider's key set could not be fetched or read: fail closed, the caller may retry. */
class KeySetUnavailable extends Error {}

/** Verifies ID tokens against their issuer's published keys; one cached key set per JWKS URL. */
export class IdTokenVerifier {
  /** One remote key set per JWKS URL; jose refreshes each by its own max age. */
  private readonly keySets: BoundedCache<string, JWTVerifyGetKey>;

  constructor(
    private readonly clock: Clock,
    caches: Caches,
    private readonly opts: IdTokenVerifierOptions = DEFAULT_VERIFIER_OPTIONS,
  ) {
    this.keySets = caches.create("jwks_key_sets", { maxEntries: MAX_CACHED_KEY_SETS, ttlSeconds: KEY_SET_IDLE_SECONDS });
  }

  async verify(idToken: string, provider: OidcProvider): Promise<VerifiedIdToken> {
    if (!idToken) throw invalidArgument("id_token", "is required");
    if (idToken.length > MAX_TOKEN_CHARS) throw tokenInvalid("token too large");
    checkHeader(idToken);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(idToken, this.keySet(provider.jwksUrl), {
        algorithms: ID_TOKEN_ALGORITHMS,
        issuer: provider.acceptedIssuers,
        audience: provider.clientIds,
        requiredClaims: ["sub", "iat", "exp"],
        currentDate: this.clock.now(),
        clockTolerance: this.opts.clockToleranceSeconds,
        maxTokenAge: this.opts.maxTokenAgeSeconds,
      }));
    } catch (err) {
      throw verificationError(err);
    }
    return claimsOf(payload, provider);
  }

  private keySet(url: string): JWTVerifyGetKey {
    const cached = this.keySets.get(url);
    if (cached) return cached;
    const remote = createRemoteJWKSet(new URL(url), {
      timeoutDuration: this.opts.timeoutMs,
      cooldownDuration: this.opts.cooldownMs,
      cacheMaxAge: this.opts.cacheMaxAgeMs,
    });
    const getKey: JWTVerifyGetKey = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        // No key for this token is the token's fault; anything else is the key set's.
        if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys || err instanceof joseErrors.JOSENotSupported)
          throw err;
        throw new KeySetUnavailable("key set unavailable", { cause: err });
      }
    };
    this.keySets.set(url, getKey);
    return getKey;
  }
}

function tokenInvalid(message = "invalid ID token", reason: ReasonFor<"unauthenticated"> = "OAUTH_TOKEN_INVALID"): DomainError {
  return unauthenticated(reason, message);
}

function checkHeader(idToken: string): void {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(idToken);
  } catch {
    throw tokenInvalid("malformed ID token");
  }
  if (typeof header.alg !== "string" || !ID_TOKEN_ALGORITHMS.includes(header.alg)) throw tokenInvalid("ID token algorithm not accepted");
  if (FORBIDDEN_HEADERS.some((h) => h in header)) throw tokenInvalid("ID token header not accepted");
}

function verificationError(err: unknown): DomainError {
  if (err instanceof KeySetUnavailable)
    return new DomainError("unavailable", "OAUTH_JWKS_UNAVAILABLE", "the identity provider's keys cannot be fetched; try again later");
  if (err instanceof joseErrors.JWTExpired) return tokenInvalid("ID token expired", "OAUTH_TOKEN_EXPIRED");
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === "iss") return tokenInvalid("ID token issuer not accepted", "OAUTH_TOKEN_WRONG_ISSUER");
    if (err.claim === "aud") return tokenInvalid("ID token audience not accepted", "OAUTH_TOKEN_WRONG_AUDIENCE");
    if (err.claim === "nbf" || err.claim === "iat") return tokenInvalid("ID token not valid yet", "OAUTH_TOKEN_NOT_YET_VALID");
  }
  return tokenInvalid();
}

function claimsOf(payload: JWTPayload, provider: OidcProvider): VerifiedIdToken {
  // Several audiences: the party the token was issued to must be one of ours (OIDC Core 3.1.3.7).
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && !(typeof payload.azp === "string" && provider.clientIds.includes(payload.azp)))
    throw tokenInvalid("ID token authorized party not accepted", "OAUTH_TOKEN_WRONG_AUDIENCE");
  const subject = payload.sub;
  if (typeof subject !== "string" || subject.length === 0 || subject.length > 255) throw tokenInvalid("ID token subject missing or invalid");
  if (typeof payload.email !== "string" || payload.email === "") throw tokenInvalid("ID token carries no email", "OAUTH_EMAIL_MISSING");
  // Some providers send the flag as a string.
  if (payload.email_verified !== true && payload.email_verified !== "true")
    throw tokenInvalid("the provider has not verified this email", "OAUTH_EMAIL_NOT_VERIFIED");
  let email: string;
  try {
    email = normalizeEmail(payload.email);
  } catch {
    throw tokenInvalid("ID token email is not a valid address", "OAUTH_EMAIL_MISSING");
  }
  const name = typeof payload.name === "string" ? [...payload.name].slice(0, 200).join("") : "";
  return { issuer: provider.issuer, subject, email, name };
}
