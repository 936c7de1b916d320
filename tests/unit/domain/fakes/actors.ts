import type { RequestMeta } from "../../../../src/domain/auth/request-meta.js";
import type { IssuedTokens } from "../../../../src/domain/auth/sign-in.js";
import { stepAt, TOTP_STEP_SECONDS, totpCode } from "../../../../src/domain/mfa/totp.js";
import type { UserPrincipal } from "../../../../src/domain/principal.js";
import { PermissionSet } from "../../../../src/domain/rbac/rules.js";
import type { UserRow } from "../../../../src/domain/records.js";
import type { World } from "./world.js";

export const meta: RequestMeta = { clientIp: "203.0.113.7", userAgent: "vitest", requestId: "req-unit" };

/** Strong enough for PasswordPolicy(3). */
export const PASSWORD = "violet-Harbor-mosaic-2931";

let serial = 0;
const emailFor = (tag: string) => `${tag}-${++serial}@example.test`;

/** A user signed up through AuthService.register (one real argon2id hash). */
export async function signUp(w: World, tag = "user"): Promise<{ user: UserRow; email: string }> {
  const email = emailFor(tag);
  const { user } = await w.auth.register({ email, password: PASSWORD, displayName: tag }, meta);
  return { user, email };
}

/** A user stored directly, without a password (no hashing): for rules that never sign in. */
export async function newUser(w: World, tag = "user"): Promise<UserRow> {
  const user = await w.store.users.create({ email: emailFor(tag), displayName: tag, passwordHash: null }, w.clock.now());
  return user!;
}

/** Password sign-in that must end in tokens (no second factor). */
export async function signInTokens(w: World, email: string, password = PASSWORD): Promise<IssuedTokens> {
  const result = await w.auth.login(email, password, meta);
  if (result.kind !== "tokens") throw new Error(`expected tokens, got ${result.kind}`);
  return result;
}

/** Password sign-in that must stop at a second-factor challenge. */
export async function signInChallenge(w: World, email: string): Promise<{ challengeId: string; methods: string[] }> {
  const result = await w.auth.login(email, PASSWORD, meta);
  if (result.kind !== "mfa") throw new Error(`expected an MFA challenge, got ${result.kind}`);
  return result;
}

/** The caller as the authenticator would build it: no RBAC roles, no system access unless asked. */
export function userPrincipal(user: { id: string }, opts: { systemAccess?: boolean; sessionId?: string; mfaAt?: Date } = {}): UserPrincipal {
  return {
    kind: "user",
    userId: user.id,
    sessionId: opts.sessionId ?? "0".repeat(32),
    roles: [],
    permissions: PermissionSet.NONE,
    systemAccess: opts.systemAccess ?? false,
    credential: "access_token",
    mfaAt: opts.mfaAt,
  };
}

/** The TOTP code of the clock's current step. */
export function currentCode(w: World, secret: string): string {
  return totpCode(secret, stepAt(w.clock.now()));
}

/** Six digits that match no step TOTP accepts now (previous, current, next). */
export function wrongCode(w: World, secret: string): string {
  const step = stepAt(w.clock.now());
  const accepted = new Set([step - 1, step, step + 1].map((s) => totpCode(secret, s)));
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, "0");
    if (!accepted.has(code)) return code;
  }
}

/**
 * Enrolls and confirms an authenticator with MfaFactors, then moves the clock one TOTP step on:
 * the confirming code's step is spent, so the next code a test computes is a fresh one.
 */
export async function enrollTotp(w: World, user: UserRow): Promise<{ factorId: string; secret: string }> {
  const caller = userPrincipal(user);
  const { factorId, secret } = await w.factors.enrollTotp(caller, meta);
  await w.factors.confirmTotp(caller, factorId, currentCode(w, secret), meta);
  w.clock.advance(TOTP_STEP_SECONDS);
  return { factorId, secret };
}
