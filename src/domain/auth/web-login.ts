import { constantTimeEqual } from "../../crypto/random.js";
import type { KeyedHasher } from "../../crypto/master-key.js";
import type { MfaVerification } from "../mfa/mfa-verification.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import { DomainError } from "../errors.js";
import type { UserRow } from "../records.js";
import type { AuthService } from "./auth-service.js";
import type { Authenticator } from "./authenticator.js";
import { invalidArgument, permissionDenied } from "../errors.js";
import type { RequestMeta } from "./request-meta.js";
import type { SignInResult } from "./sign-in.js";

/** What a browser's login form sends: the password step, or the second-factor step. */
export type WebLoginRequest = { email: string; password: string } | { challengeId: string; code: string };

export type WebLoginResult =
  | { kind: "mfa"; challengeId: string; methods: string[] }
  | { kind: "session"; bearer: string; sessionId: string; csrfToken: string; expiresAt: Date; user: UserRow };

export interface WebLoginDeps {
  auth: Pick<AuthService, "login" | "logout">;
  mfa: Pick<MfaVerification, "verify">;
  authenticator: Pick<Authenticator, "authenticate">;
  keyedHash: KeyedHasher;
  limiter: Pick<BruteForce, "takeNetwork" | "networkSucceeded">;
}

const SESSION_ID = /^wds_([0-9a-f]{32})\./;

/**
 * The SPA's cookie sign-in (POST /v1/webapi/login): the same sign-in as Login (limits, second
 * factors, zero-trust rules, audit), ending in the session's own bearer, which the route puts in
 * an HttpOnly cookie, and a CSRF token bound to that session. A call authenticated by the cookie
 * must carry the token in `x-csrf-token`: another site can make the browser send the cookie, but
 * cannot read the token.
 */
export class WebLogin {
  constructor(private readonly d: WebLoginDeps) {}

  async login(req: WebLoginRequest, meta: RequestMeta): Promise<WebLoginResult> {
    const r = await this.withinBudget("challengeId" in req ? "otp" : "password", meta.clientIp, () =>
      "challengeId" in req
        ? this.d.mfa.verify(req.challengeId, req.code, meta).then((t): SignInResult => ({ kind: "tokens", ...t }))
        : this.d.auth.login(req.email, req.password, meta),
    );
    if (r.kind === "mfa") return { kind: "mfa", challengeId: r.challengeId, methods: r.methods };
    return {
      kind: "session",
      bearer: r.sessionBearer,
      sessionId: r.session.id,
      csrfToken: this.csrfFor(r.session.id),
      expiresAt: r.session.expiresAt,
      user: r.user,
    };
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
