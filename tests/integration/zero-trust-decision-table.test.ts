import type { Client } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { DeviceService } from "../../gen/warden/device/v1/device_service_pb.js";
import { MembershipService } from "../../gen/warden/org/v1/membership_service_pb.js";
import { MemberRole, OrganizationTier } from "../../gen/warden/org/v1/organization_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { OrgPolicyConfigService } from "../../gen/warden/orgpolicy/v1/org_policy_config_service_pb.js";
import { PolicyLanguage, PolicyOutcome, PolicyService } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { deviceProof, registerDevice, type DeviceKey } from "../helpers/device-keys.js";
import { failureOf } from "../helpers/expect-error.js";
import { addTotp, signUp, totpAt, type Member } from "../helpers/mfa-world.js";
import { createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

type Outcome = "allow" | "deny" | "require_mfa";
/** What a Login or a Refresh answered: tokens, an MFA challenge, or an error reason. */
type Result = "ok" | "challenge" | "POLICY_DENIED" | "MFA_REQUIRED";

interface Case {
  name: string;
  /** A source may depend on the test clock's time (time windows, weekdays). */
  policies: { source: string | ((now: Date) => string); outcome: Outcome; priority?: number; enabled?: boolean }[];
  tier?: OrganizationTier;
  defaultOutcome?: Outcome;
  totp?: boolean;
  device?: "untrusted" | "trusted" | { posture: "fresh" | "stale"; diskEncrypted?: boolean };
  /** Seconds the clock moves between the sign-in and the refresh. */
  before?: number;
  login: Result;
  /** The refresh of the session the login opened (or, when the login opened none, of one opened before the policies). */
  refresh: Result;
}

const OUTCOME: Record<Outcome, PolicyOutcome> = { allow: PolicyOutcome.ALLOW, deny: PolicyOutcome.DENY, require_mfa: PolicyOutcome.REQUIRE_MFA };
const hhmm = (h: number) => `${String(((h % 24) + 24) % 24).padStart(2, "0")}:00`;

/**
 * The decision table end to end: each row sets an organization's policies and settings, then a
 * member signs in (Login, and VerifyMFA when asked) and refreshes, through the real server.
 * tests/integration/policies-decisions.test.ts runs the same engine through EvaluatePolicy.
 */
const CASES: Case[] = [
  { name: "no policy: allowed", policies: [], login: "ok", refresh: "ok" },
  { name: "deny true", policies: [{ source: "true", outcome: "deny" }], login: "POLICY_DENIED", refresh: "POLICY_DENIED" },
  { name: "a disabled deny is ignored", policies: [{ source: "true", outcome: "deny", enabled: false }], login: "ok", refresh: "ok" },
  { name: "require MFA, no factor", policies: [{ source: "true", outcome: "require_mfa" }], login: "MFA_REQUIRED", refresh: "MFA_REQUIRED" },
  {
    name: "require MFA, with TOTP: challenge, then the MFA session refreshes",
    policies: [{ source: "true", outcome: "require_mfa" }],
    totp: true,
    login: "challenge",
    refresh: "ok",
  },
  {
    name: "allow of higher priority beats require MFA (professional tier)",
    tier: OrganizationTier.PROFESSIONAL,
    policies: [
      { source: `organization.tier == "professional"`, outcome: "allow", priority: 10 },
      { source: "true", outcome: "require_mfa", priority: 1 },
    ],
    login: "ok",
    refresh: "ok",
  },
  {
    name: "the same rules on the free tier ask for MFA",
    policies: [
      { source: `organization.tier == "professional"`, outcome: "allow", priority: 10 },
      { source: "true", outcome: "require_mfa", priority: 1 },
    ],
    login: "MFA_REQUIRED",
    refresh: "MFA_REQUIRED",
  },
  {
    name: "deny beats allow whatever the priorities",
    policies: [
      { source: "true", outcome: "allow", priority: 100 },
      { source: "true", outcome: "deny", priority: -100 },
    ],
    login: "POLICY_DENIED",
    refresh: "POLICY_DENIED",
  },
  {
    name: "org role: a deny for admins does not touch members",
    policies: [{ source: `user.org_role == "admin"`, outcome: "deny" }],
    login: "ok",
    refresh: "ok",
  },
  {
    name: "system roles: a deny unless admin",
    policies: [{ source: `!("admin" in user.roles)`, outcome: "deny" }],
    login: "POLICY_DENIED",
    refresh: "POLICY_DENIED",
  },
  { name: "unregistered device denied", policies: [{ source: "!device.registered", outcome: "deny" }], login: "POLICY_DENIED", refresh: "POLICY_DENIED" },
  {
    name: "untrusted device denied",
    policies: [{ source: "!device.trusted", outcome: "deny" }],
    device: "untrusted",
    login: "POLICY_DENIED",
    refresh: "POLICY_DENIED",
  },
  { name: "trusted device allowed", policies: [{ source: "!device.trusted", outcome: "deny" }], device: "trusted", login: "ok", refresh: "ok" },
  {
    name: "fresh posture is known",
    policies: [{ source: "!device.posture.known", outcome: "deny" }],
    device: { posture: "fresh" },
    login: "ok",
    refresh: "ok",
  },
  {
    name: "stale posture counts as unknown",
    policies: [{ source: "!device.posture.known", outcome: "deny" }],
    device: { posture: "stale" },
    login: "POLICY_DENIED",
    refresh: "POLICY_DENIED",
  },
  {
    name: "posture: unencrypted disk denied",
    policies: [{ source: "!device.posture.known || !device.posture.disk_encrypted", outcome: "deny" }],
    device: { posture: "fresh", diskEncrypted: false },
    login: "POLICY_DENIED",
    refresh: "POLICY_DENIED",
  },
  {
    name: "MFA age: a second factor older than 5 minutes no longer refreshes",
    policies: [{ source: "session.mfa && session.mfa_age_seconds > 300", outcome: "deny" }],
    totp: true,
    before: 600,
    login: "challenge",
    refresh: "POLICY_DENIED",
  },
  {
    name: "time window in a zone: inside at sign-in, outside three hours later",
    policies: [
      { source: (now) => `!in_time_window(request.time, "${hhmm(now.getUTCHours() - 1)}", "${hhmm(now.getUTCHours() + 2)}", "UTC")`, outcome: "deny" },
    ],
    before: 3 * 3600,
    login: "ok",
    refresh: "POLICY_DENIED",
  },
  {
    name: "time window in another zone (Asia/Tokyo, UTC+9)",
    policies: [
      {
        source: (now) => `!in_time_window(request.time, "${hhmm(now.getUTCHours() + 9 - 1)}", "${hhmm(now.getUTCHours() + 9 + 2)}", "Asia/Tokyo")`,
        outcome: "deny",
      },
    ],
    login: "ok",
    refresh: "ok",
  },
  {
    name: "weekday in a zone",
    policies: [{ source: (now) => `weekday(request.time, "UTC") == ${now.getUTCDay()}`, outcome: "deny" }],
    login: "POLICY_DENIED",
    refresh: "POLICY_DENIED",
  },
  {
    name: "IPv4 range: a client outside 10.0.0.0/8",
    policies: [{ source: `!ip_in_cidr(request.ip, "10.0.0.0/8")`, outcome: "deny" }],
    login: "POLICY_DENIED",
    refresh: "POLICY_DENIED",
  },
  {
    name: "IPv6 range: a client outside 2001:db8::/32 is not matched",
    policies: [{ source: `ip_in_cidr(request.ip, "2001:db8::/32")`, outcome: "deny" }],
    login: "ok",
    refresh: "ok",
  },
  {
    name: "default outcome deny when nothing matches",
    policies: [{ source: "false", outcome: "allow" }],
    defaultOutcome: "deny",
    login: "POLICY_DENIED",
    refresh: "POLICY_DENIED",
  },
  {
    name: "an allow that matches overrides a default deny",
    policies: [{ source: "true", outcome: "allow" }],
    defaultOutcome: "deny",
    login: "ok",
    refresh: "ok",
  },
  { name: "default outcome require MFA", policies: [], defaultOutcome: "require_mfa", login: "MFA_REQUIRED", refresh: "MFA_REQUIRED" },
  {
    name: "a policy failing at run time denies",
    policies: [{ source: `in_time_window(request.time, "09:00", "17:00", user.email.startsWith("zz") ? "UTC" : "No/Such_Zone")`, outcome: "allow" }],
    login: "POLICY_DENIED",
    refresh: "POLICY_DENIED",
  },
];

describe("policy decisions end to end through Login and Refresh", () => {
  let t: TestApp;
  let auth: Client<typeof AuthService>;
  let devices: Client<typeof DeviceService>;

  beforeAll(async () => {
    t = await createTestApp();
    auth = t.client(AuthService);
    devices = t.client(DeviceService);
  });
  afterAll(async () => t?.close());

  async function resultOf(call: Promise<{ accessToken: string; mfaRequired?: boolean }>): Promise<Result> {
    const failure = await failureOf(call);
    if (failure) {
      if (failure.reason === "POLICY_DENIED" || failure.reason === "MFA_REQUIRED") return failure.reason;
      throw new Error(`unexpected failure ${failure.code} ${failure.reason}: ${failure.message}`);
    }
    const r = await call;
    return r.mfaRequired ? "challenge" : "ok";
  }

  /** The member's device as the case wants it: registered, trusted by the owner, posture written as telemetry would. */
  async function deviceFor(c: Case, owner: Member, member: Member, orgId: string): Promise<{ id: string; key: DeviceKey } | undefined> {
    if (!c.device) return undefined;
    const { device, key } = await registerDevice(devices, orgId, { as: member.h });
    if (c.device !== "untrusted") await devices.trustDevice({ id: device.id, trusted: true }, owner.h);
    if (typeof c.device === "object") {
      const reportedAt = new Date(t.clock.now().getTime() - (c.device.posture === "fresh" ? 60 : 2 * 86_400) * 1000);
      await t.app.hooks.db.execute(sql`
        update devices set posture_os = 'linux', posture_os_version = '6.8', posture_disk_encrypted = ${c.device.diskEncrypted ?? true},
          posture_screen_lock = true, posture_agent_version = '1.0.0', posture_at = ${reportedAt.toISOString()}::timestamptz
        where id = ${device.id}`);
    }
    return { id: device.id, key };
  }

  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const tag = `dt${Math.random().toString(36).slice(2, 8)}`;
    const owner = await signUp(t, `${tag}-owner`);
    const member = c.totp ? await addTotp(t, await signUp(t, `${tag}-member`)) : await signUp(t, `${tag}-member`);
    const orgs = t.client(OrganizationService);
    const { organization } = await orgs.createOrganization({ name: tag, tier: c.tier ?? OrganizationTier.FREE }, owner.h);
    const orgId = organization!.id;
    await t.client(MembershipService).addMember({ organizationId: orgId, userId: member.userId, role: MemberRole.MEMBER }, owner.h);
    await t.client(MembershipService).acceptMembership({ organizationId: orgId }, member.h);
    const device = await deviceFor(c, owner, member, orgId);
    if (c.defaultOutcome)
      await t.client(OrgPolicyConfigService).updateOrgPolicyConfig({ organizationId: orgId, defaultPolicyOutcome: OUTCOME[c.defaultOutcome] }, owner.h);
    for (const [i, p] of c.policies.entries())
      await t.client(PolicyService).createPolicy(
        {
          policy: {
            organizationId: orgId,
            name: `p${i}`,
            language: PolicyLanguage.CEL,
            source: typeof p.source === "string" ? p.source : p.source(t.clock.now()),
            outcome: OUTCOME[p.outcome],
            priority: p.priority ?? 0,
            enabled: p.enabled ?? true,
          },
        },
        owner.h,
      );

    const proof = async (purpose: "sign_in" | "refresh") => (device ? await deviceProof(devices, device.id, device.key, purpose) : undefined);
    const login = auth.login({ email: member.email, password: STRONG_PASSWORD, deviceProof: await proof("sign_in") });
    expect(await resultOf(login), "Login").toBe(c.login);

    // The session to refresh: the one the login opened (after VerifyMFA if asked), else one from before the policies.
    let refreshToken = member.refreshToken;
    let bound = false;
    if (c.login === "ok") {
      refreshToken = (await login).refreshToken;
      bound = !!device;
    }
    if (c.login === "challenge") {
      const verified = await auth.verifyMFA({ challengeId: (await login).challengeId, code: totpAt((member as Member & { secret: string }).secret, t.clock) });
      refreshToken = verified.refreshToken;
      bound = !!device;
    }
    if (c.before) t.clock.advance(c.before);
    const refresh = auth.refresh({ refreshToken, deviceProof: bound ? await proof("refresh") : undefined });
    expect(await resultOf(refresh), "Refresh").toBe(c.refresh);
    if (c.before) t.clock.advance(-c.before);
  });
});
