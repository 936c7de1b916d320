import { randomBytes } from "node:crypto";
import type { Client } from "@connectrpc/connect";
import { expect } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { DevService } from "../../gen/warden/dev/v1/dev_service_pb.js";
import { MfaService } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import type { ManualClock } from "../../src/clock.js";
import { stepAt, totpCode } from "../../src/domain/mfa/totp.js";
import { localSession } from "./accounts.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, STRONG_PASSWORD, type TestApp } from "./test-app.js";
import { uniqueEmail } from "./unique.js";

// ---------------------------------------------------------------- codes

/** The code of `secret` at the clock's step, moved by `drift` steps. */
export function totpAt(secret: string, clock: ManualClock, drift = 0): string {
  return totpCode(secret, stepAt(clock.now()) + drift);
}

/** Six digits that are none of the codes the server would accept right now. */
export function wrongTotp(secret: string, clock: ManualClock, salt = 0): string {
  const valid = new Set([-1, 0, 1].map((d) => totpAt(secret, clock, d)));
  for (let n = 100_000 + salt * 7919; ; n++) {
    const code = String(n % 1_000_000).padStart(6, "0");
    if (!valid.has(code)) return code;
  }
}

// ---------------------------------------------------------------- people

/** E.164 numbers that no other test run uses. */
export function freshPhone(): string {
  return `+1415${String(randomBytes(4).readUInt32BE() % 10_000_000).padStart(7, "0")}`;
}

export interface Member {
  email: string;
  userId: string;
  /** The access token of the first, password-only session (no MFA proof on it). */
  token: string;
  refreshToken: string;
  h: ReturnType<typeof bearer>;
}

export interface TotpMember extends Member {
  secret: string;
  factorId: string;
}

type World = Pick<TestApp, "client" | "clock">;

export async function signUp(t: World, tag: string): Promise<Member> {
  const auth = t.client(AuthService);
  const email = uniqueEmail(tag);
  const reg = await auth.register({ email, password: STRONG_PASSWORD, displayName: tag });
  const login = await auth.login({ email, password: STRONG_PASSWORD });
  expect(login.mfaRequired).toBe(false);
  return { email, userId: reg.user!.id, token: login.accessToken, refreshToken: login.refreshToken, h: bearer(login.accessToken) };
}

/** Enrolls and confirms an authenticator, then moves the clock a step so the next code is new. */
export async function addTotp(t: World, m: Member): Promise<TotpMember> {
  const mfa = t.client(MfaService);
  const enrolled = await mfa.enrollTotp({}, m.h);
  await mfa.confirmTotp({ factorId: enrolled.factorId, code: totpAt(enrolled.secret, t.clock) }, m.h);
  t.clock.advance(30);
  return { ...m, secret: enrolled.secret, factorId: enrolled.factorId };
}

export async function signUpWithTotp(t: World, tag: string): Promise<TotpMember> {
  return addTotp(t, await signUp(t, tag));
}

/** Registers and confirms a phone through the dev-mode code store. */
export async function addPhone(t: World, m: Member, phone = freshPhone()): Promise<string> {
  const mfa = t.client(MfaService);
  const { factorId } = await mfa.enrollPhone({ phone }, m.h);
  const { code } = await t.client(DevService).getOTP({ phone });
  const confirmed = await mfa.confirmPhone({ factorId, code }, m.h);
  expect(confirmed.factor?.confirmed).toBe(true);
  return phone;
}

/** A password login that must answer with an MFA challenge. */
export async function startChallenge(auth: Client<typeof AuthService>, email: string): Promise<{ challengeId: string; methods: string[] }> {
  const r = await auth.login({ email, password: STRONG_PASSWORD });
  expect(r.mfaRequired).toBe(true);
  expect(r.accessToken).toBe("");
  expect(r.refreshToken).toBe("");
  expect(r.challengeId).toMatch(/^mfa_/);
  return { challengeId: r.challengeId, methods: r.mfaMethods };
}

/** Audit rows of one type written for one user. */
export async function auditOf(t: Pick<TestApp, "app">, eventType: string, actorId: string) {
  return t.app.hooks.store.audit.query({ eventTypes: [eventType], actorId, limit: 1000 });
}

// ---------------------------------------------------------------- administrators

/**
 * The bootstrap admin with an authenticator, for the methods that want a fresh second factor,
 * on a session bearer: tests that move the clock past an access token's life keep it.
 */
export async function adminWithTotp(t: TestApp): Promise<TotpMember> {
  const login = await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  const session = await localSession(t, ADMIN_EMAIL, ADMIN_PASSWORD);
  return addTotp(t, { email: ADMIN_EMAIL, userId: login.user!.id, token: session, refreshToken: login.refreshToken, h: bearer(session) });
}

/** A fresh second-factor proof on the member's session (a new code: each one works once). */
export async function freshProof(t: World, m: TotpMember): Promise<void> {
  t.clock.advance(30);
  expect((await t.client(MfaService).validateTotp({ code: totpAt(m.secret, t.clock) }, m.h)).valid).toBe(true);
}
