import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import type { Clock } from "../clock.js";
import type { BoundedCache } from "../domain/cache/bounded-cache.js";
import type { Caches } from "../domain/cache/caches.js";
import { unauthenticated } from "../domain/errors.js";
import type { KeyStore } from "./key-store.js";

export type TokenType = "access" | "service_account" | "api_key";

export interface TokenClaims {
  sub: string;
  sid: string;
  tokenType: TokenType;
  iat: number;
  exp: number;
  /** Seconds since epoch of the last MFA proof, when there was one. */
  authTime?: number;
  amr?: string[];
}

export interface TokenServiceOptions {
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  /** How long a verified token is remembered (its expiry and key are still checked on each use). */
  verifiedCacheSeconds: number;
}

/** Headers that would let a token name its own verification key: never honoured, always refused. */
const FORBIDDEN_HEADERS = ["jku", "jwk", "x5u", "x5c", "crit"];

const CLOCK_TOLERANCE_SECONDS = 5;

/** The one token service: signs and verifies Warden JWTs. */
export class TokenService {
  private readonly verified: BoundedCache<string, { claims: TokenClaims; kid: string }>;

  constructor(
    private readonly keys: KeyStore,
    private readonly clock: Clock,
    private readonly opts: TokenServiceOptions,
    caches: Caches,
  ) {
    this.verified = caches.create("verified_tokens", { ttlSeconds: opts.verifiedCacheSeconds });
  }

  async issue(input: {
    sub: string;
    sid: string;
    tokenType: TokenType;
    ttlSeconds?: number;
    amr?: string[];
    authTime?: Date;
  }): Promise<{ token: string; expiresAt: Date }> {
    const key = this.keys.signingKey();
    const iat = Math.floor(this.clock.now().getTime() / 1000);
    const exp = iat + (input.ttlSeconds ?? this.opts.accessTokenTtlSeconds);
    const payload: JWTPayload = { sid: input.sid, token_type: input.tokenType };
    if (input.amr) payload.amr = input.amr;
    // auth_time: when the user last proved a second factor (OIDC's meaning, used for step-up).
    if (input.authTime) payload.auth_time = Math.floor(input.authTime.getTime() / 1000);
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: key.algorithm, kid: key.kid, typ: "JWT" })
      .setSubject(input.sub)
      .setIssuer(this.opts.issuer)
      .setAudience(this.opts.audience)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(key.privateKey);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  async verify(token: string, expected: TokenType | TokenType[]): Promise<TokenClaims> {
    const expectedTypes = Array.isArray(expected) ? expected : [expected];
    const cached = await this.fromCache(token);
    if (cached) {
      if (!expectedTypes.includes(cached.tokenType)) throw unauthenticated("TOKEN_TYPE", "wrong token type");
      return cached;
    }
    const claims = await this.verifySignature(token, expectedTypes);
    this.remember(token, claims);
    return claims;
  }

  /**
   * A token verified before is not checked again (the signature check dominates an
   * authenticated call's cost); its expiry and its key's validity are, on every use.
   */
  private async fromCache(token: string): Promise<TokenClaims | undefined> {
    const hit = this.verified.get(token);
    if (!hit) return undefined;
    const nowSeconds = Math.floor(this.clock.now().getTime() / 1000);
    if (hit.claims.exp + CLOCK_TOLERANCE_SECONDS <= nowSeconds || !(await this.keys.verificationKey(hit.kid))) {
      this.verified.delete(token);
      return undefined;
    }
    return hit.claims;
  }

  private remember(token: string, claims: TokenClaims): void {
    this.verified.set(token, { claims, kid: decodeProtectedHeader(token).kid as string });
  }

  private async verifySignature(token: string, expectedTypes: TokenType[]): Promise<TokenClaims> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw unauthenticated("TOKEN_MALFORMED", "malformed token");
    }
    if (header.alg !== this.keys.algorithm) throw unauthenticated("TOKEN_ALGORITHM", "token algorithm not accepted");
    if (FORBIDDEN_HEADERS.some((h) => h in header)) throw unauthenticated("TOKEN_HEADER", "token header not accepted");
    if (typeof header.kid !== "string") throw unauthenticated("TOKEN_KEY_UNKNOWN", "token key unknown");
    const key = await this.keys.verificationKey(header.kid);
    if (!key) throw unauthenticated("TOKEN_KEY_UNKNOWN", "token key unknown");
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key.publicKey, {
        algorithms: [this.keys.algorithm],
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        requiredClaims: ["sub", "sid", "iat", "exp"],
        currentDate: this.clock.now(),
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw unauthenticated("TOKEN_EXPIRED", "token expired");
      throw unauthenticated("TOKEN_INVALID", "invalid token");
    }
    const tokenType = payload.token_type as TokenType;
    if (!expectedTypes.includes(tokenType)) throw unauthenticated("TOKEN_TYPE", "wrong token type");
    if (typeof payload.sid !== "string" || typeof payload.sub !== "string") throw unauthenticated("TOKEN_INVALID", "invalid token");
    if (payload.iat! > Math.floor(this.clock.now().getTime() / 1000) + 5) throw unauthenticated("TOKEN_NOT_YET_VALID", "token not yet valid");
    return {
      sub: payload.sub,
      sid: payload.sid,
      tokenType,
      iat: payload.iat!,
      exp: payload.exp!,
      amr: Array.isArray(payload.amr) ? (payload.amr as string[]) : undefined,
      authTime: typeof payload.auth_time === "number" ? payload.auth_time : undefined,
    };
  }
}
