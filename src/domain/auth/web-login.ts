import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { constantTimeEqual } from "../../crypto/random.js";
import type { KeyedHasher } from "../../crypto/master-key.js";
import type { MfaVerification, ProofOutcome } from "../mfa/mfa-verification.js";
import type { Passkeys, StartedCeremony } from "../passkey/passkeys.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import { DomainError } from "../errors.js";
import type { UserRow } from "../records.js";
import type { AuthService } from "./auth-service.js";
import type { Authenticator } from "./authenticator.js";
import { invalidArgument, permissionDenied } from "../errors.js";
import type { RequestMeta } from "./request-meta.js";
import type { SignIn, SignInResult } from "./sign-in.js";

/** What a browser's login form sends: the password step, or the second-factor step with a code or a passkey. */
export type WebLoginRequest =
  | { email: string; password: string }
  | { challengeId: string; code: string }
  | { challengeId: string; webauthn: { challengeId: string; credential: AuthenticationResponseJSON } };

export type WebLoginResult =
  | { kind: "mfa"; challengeId: string; methods: string[]; webauthn?: StartedCeremony }
  | { kind: "session"; bearer: string; sessionId: string; csrfToken: string; expiresAt: Date; user: UserRow };

export interface WebLoginDeps {
  auth: Pick<AuthService, "checkPassword" | "logout">;
  signIn: Pick<SignIn, "start">;
  mfa: Pick<MfaVerification, "verify" | "verifyWith">;
  passkeys: Pick<Passkeys, "hasPasskey" | "startStepUp" | "verifyStepUp">;
  authenticator: Pick<Authenticator, "authenticate">;
  keyedHash: KeyedHasher;
  limiter: Pick<BruteForce, "takeNetwork" | "networkSucceeded">;
}

/** A sign-in's outcome; a challenge that lists "webauthn" comes with the passkey options. */
type Attempt = SignInResult | (Extract<SignInResult, { kind: "mfa" }> & { webauthn: StartedCeremony });

const SESSION_ID = /^wds_([0-9a-f]{32})\./;

/**
 * The SPA's cookie sign-in (POST /v1/webapi/login): the same sign-in as Login (limits, second
 * factors, zero-trust rules, audit), ending in the session's own bearer, which the route puts in
 * an HttpOnly cookie, and a CSRF token bound to that session. A call authenticated by the cookie
 * must carry the token in `x-csrf-token`: another site can make the browser send the cookie, but
 * cannot read the token.
 *
 * A user with a passkey is asked for it after the password (WebAuthn step-up), as one more second
 * factor beside any codes, and the only one when they have no other: for such a user the password
 * alone opens no web session. Only this sign-in offers the step (Login's VerifyMFA takes codes).
 */
export class WebLogin {
  constructor(private readonly d: WebLoginDeps) {}

  async login(req: WebLoginRequest, meta: RequestMeta): Promise<WebLoginResult> {
    const r = await this.withinBudget("password" in req ? "password" : "otp", meta.clientIp, () => this.attempt(req, meta));
    if (r.kind === "mfa") return { kind: "mfa", challengeId: r.challengeId, methods: r.methods, webauthn: "webauthn" in r ? r.webauthn : undefined };
    return {
      kind: "session",
      bearer: r.sessionBearer,
      sessionId: r.session.id,
      csrfToken: this.csrfFor(r.session.id),
      expiresAt: r.session.expiresAt,
      user: r.user,
    };
  }

  private async attempt(req: WebLoginRequest, meta: RequestMeta): Promise<Attempt> {
    if ("password" in req) return this.passwordStep(req.email, req.password, meta);
    if ("code" in req) return { kind: "tokens", ...(await this.d.mfa.verify(req.challengeId, req.code, meta)) };
    const { challengeId, credential } = req.webauthn;
    const tokens = await this.d.mfa.verifyWith(req.challengeId, "webauthn", meta, async (user): Promise<ProofOutcome> => {
      // The passkey must be the MFA challenge's user's: another account's passkey is refused.
      const r = await this.d.passkeys.verifyStepUp(user.id, challengeId, credential, meta);
      const details: Record<string, string> = { webauthn_challenge_id: challengeId, ...(r.passkey ? { passkey_id: r.passkey.id } : {}) };
      return "error" in r ? { error: r.error, reason: `passkey_${r.reason}`, details } : { details };
    });
    return { kind: "tokens", ...tokens };
  }

  /**
   * Login's password step (AuthService.login, less the device proof a browser does not send),
   * with the user's passkeys as one more second factor, and the options to ask for one.
   */
  private async passwordStep(email: string, password: string, meta: RequestMeta): Promise<Attempt> {
    const user = await this.d.auth.checkPassword(email, password, "auth.login", meta);
    const hasPasskey = await this.d.passkeys.hasPasskey(user.id);
    const r = await this.d.signIn.start(user, "password", meta, {
      amr: ["pwd"],
      mfaSatisfied: false,
      hasMfa: user.hasMfa,
      extraMethods: hasPasskey ? ["webauthn"] : [],
    });
    if (r.kind === "mfa" && hasPasskey) return { ...r, webauthn: await this.d.passkeys.startStepUp(user.id) };
    return r;
  }

  /**
   * The network budgets Login's rate class spends (the RPC gets them from its policy option): a
   * point per attempt, given back when the credential was good or a fault cut the attempt short.
   */
  private async withinBudget<T>(budget: "password" | "otp", ip: string, attempt: () => Promise<T>): Promise<T> {
    await this.d.limiter.takeNetwork(budget, ip);
    let refund = false;
    try {
      const result = await attempt();
      refund = true;
      return result;
    } catch (err) {
      refund = !(err instanceof DomainError) || err.kind === "unavailable";
      throw err;
    } finally {
      if (refund) await this.d.limiter.networkSucceeded(budget, ip).catch(() => {});
    }
  }

  /** The CSRF token of a session: an HMAC of its id under a key from the master key (nothing stored). */
  csrfFor(sessionId: string): string {
    return this.d.keyedHash("web-csrf", sessionId);
  }

  /** Whether `token` is the CSRF token of the session whose bearer the cookie holds. */
  csrfMatches(bearer: string, token: string): boolean {
    const id = SESSION_ID.exec(bearer)?.[1];
    return !!id && constantTimeEqual(this.csrfFor(id), token);
  }

  /** The signed-in user of a cookie whose CSRF token matches; refused otherwise. */
  async authenticate(bearer: string, csrfToken: string, clientIp: string) {
    if (!this.csrfMatches(bearer, csrfToken)) throw permissionDenied("CSRF_TOKEN_INVALID", "x-csrf-token is not this session's CSRF token");
    return this.d.authenticator.authenticate(bearer, clientIp);
  }

  /** Who a session cookie signs in (no CSRF token needed to learn one's own CSRF token). */
  async whoIs(bearer: string, clientIp: string): Promise<{ userId: string; sessionId: string }> {
    const principal = await this.d.authenticator.authenticate(bearer, clientIp);
    if (principal.kind !== "user") throw invalidArgument("cookie", "not a user session");
    return { userId: principal.userId, sessionId: principal.sessionId };
  }

  async logout(bearer: string, csrfToken: string, meta: RequestMeta): Promise<void> {
    const principal = await this.authenticate(bearer, csrfToken, meta.clientIp);
    if (principal.kind !== "user") throw invalidArgument("cookie", "not a user session");
    await this.d.auth.logout(principal, meta);
  }
}
