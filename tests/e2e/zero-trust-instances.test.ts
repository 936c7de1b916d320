import { Code, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { DeviceService } from "../../gen/warden/device/v1/device_service_pb.js";
import { MembershipService } from "../../gen/warden/org/v1/membership_service_pb.js";
import { MemberRole } from "../../gen/warden/org/v1/organization_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { OrgPolicyConfigService } from "../../gen/warden/orgpolicy/v1/org_policy_config_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { createScratchDatabase, dropScratchDatabase, TEST_PG_URL } from "../helpers/database.js";
import { deviceProof, registerDevice } from "../helpers/device-keys.js";
import { errorOf, reasonOf } from "../helpers/expect-error.js";
import { eventually } from "../helpers/probes.js";
import { SLOW_TEST, startServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

/** The clients of one server instance. */
function on(transport: Transport) {
  return {
    auth: createClient(AuthService, transport),
    sessions: createClient(SessionService, transport),
    users: createClient(UserService, transport),
    orgs: createClient(OrganizationService, transport),
    members: createClient(MembershipService, transport),
    config: createClient(OrgPolicyConfigService, transport),
    devices: createClient(DeviceService, transport),
  };
}

/**
 * Two server processes on one PostgreSQL database, each caching sessions for 120 s: a change
 * made through A (device revoked, user disabled, the organization's session limits tightened)
 * ends the affected sessions at their next call on B, within about a second.
 */
describe.skipIf(!TEST_PG_URL)("[PostgreSQL only: needs TEST_DATABASE_URL] zero-trust changes across instances", () => {
  let databaseUrl: string;
  let a: ServerProcess;
  let b: ServerProcess;
  let onA: ReturnType<typeof on>;
  let onB: ReturnType<typeof on>;
  let owner: { email: string; userId: string; h: ReturnType<typeof bearer> };
  let orgId: string;

  beforeAll(async () => {
    databaseUrl = await createScratchDatabase();
    const env = { DATABASE_URL: databaseUrl, WARDEN_SESSION_CACHE_TTL: "120", WARDEN_SIGNUPS_PER_ADDRESS_PER_HOUR: "1000" };
    [a, b] = await Promise.all([startServerProcess({ env }), startServerProcess({ env })]);
    onA = on(createConnectTransport({ baseUrl: a.baseUrl, httpVersion: "2" }));
    onB = on(createConnectTransport({ baseUrl: b.baseUrl, httpVersion: "2" }));
    owner = await member("owner");
    orgId = (await onA.orgs.createOrganization({ name: "instances" }, owner.h)).organization!.id;
  }, SLOW_TEST.timeout);
  afterAll(async () => {
    await Promise.all([a?.dispose(), b?.dispose()]);
    if (databaseUrl) await dropScratchDatabase(databaseUrl);
  });

  async function member(tag: string) {
    const email = uniqueEmail(tag);
    const { user } = await onA.auth.register({ email, password: STRONG_PASSWORD, displayName: tag });
    const login = await onA.auth.login({ email, password: STRONG_PASSWORD });
    if (orgId) {
      await onA.members.addMember({ organizationId: orgId, userId: user!.id, role: MemberRole.MEMBER }, await asOwner());
      await onA.members.acceptMembership({ organizationId: orgId }, bearer(login.accessToken));
    }
    return { email, userId: user!.id, h: bearer(login.accessToken) };
  }

  /** The owner signed in afresh: the session limits below end the owner's older sessions too. */
  async function asOwner() {
    return bearer((await onA.auth.login({ email: owner.email, password: STRONG_PASSWORD })).accessToken);
  }

  /** Resolves with how long B took to refuse `token` with `reason`. */
  async function refusedOnB(token: string, ...reasons: string[]): Promise<number> {
    return eventually(
      async () => {
        const err = await errorOf(onB.sessions.validateSession({}, bearer(token)));
        return err?.code === Code.Unauthenticated && reasons.includes(reasonOf(err));
      },
      2000,
      `B refuses with ${reasons.join(" or ")}`,
    );
  }

  it("RevokeDevice on A ends the device-bound session on B", SLOW_TEST, async () => {
    const m = await member("device");
    const { device, key } = await registerDevice(onA.devices, orgId, { as: m.h });
    const bound = await onA.auth.login({ email: m.email, password: STRONG_PASSWORD, deviceProof: await deviceProof(onA.devices, device.id, key, "sign_in") });
    expect((await onB.sessions.validateSession({}, bearer(bound.accessToken))).valid).toBe(true); // cached on B now
    expect((await onA.devices.revokeDevice({ id: device.id }, m.h)).revokedSessions).toBe(1);
    expect(await refusedOnB(bound.accessToken, "SESSION_REVOKED")).toBeLessThan(2000);
    // The member's session without the device is untouched.
    expect((await onB.sessions.validateSession({}, m.h)).valid).toBe(true);
  });

  it("DisableUser on A ends the user's sessions on B", SLOW_TEST, async () => {
    const m = await member("disabled");
    expect((await onB.sessions.validateSession({}, m.h)).valid).toBe(true);
    const admin = await onA.auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    await onA.users.disableUser({ id: m.userId }, bearer(admin.accessToken));
    expect(await refusedOnB(m.h.headers.authorization!.slice("Bearer ".length), "USER_DISABLED", "SESSION_REVOKED")).toBeLessThan(2000);
  });

  it("a max session age set on A ends older sessions at their next call on B", SLOW_TEST, async () => {
    const m = await member("maxage");
    expect((await onB.sessions.validateSession({}, m.h)).valid).toBe(true);
    await new Promise((r) => setTimeout(r, 2100));
    await onA.config.updateOrgPolicyConfig({ organizationId: orgId, session: { maxAgeSeconds: 2n } }, await asOwner());
    expect(await refusedOnB(m.h.headers.authorization!.slice("Bearer ".length), "SESSION_EXPIRED")).toBeLessThan(2000);
    await onA.config.updateOrgPolicyConfig({ organizationId: orgId, session: { maxAgeSeconds: 0n } }, await asOwner());
  });

  it("a concurrency limit set on A ends the oldest sessions on B", SLOW_TEST, async () => {
    const m = await member("cap");
    const newer = await onA.auth.login({ email: m.email, password: STRONG_PASSWORD });
    expect((await onB.sessions.validateSession({}, m.h)).valid).toBe(true);
    await onA.config.updateOrgPolicyConfig({ organizationId: orgId, session: { maxConcurrentPerUser: 1 } }, await asOwner());
    expect(await refusedOnB(m.h.headers.authorization!.slice("Bearer ".length), "SESSION_REVOKED")).toBeLessThan(2000);
    expect((await onB.sessions.validateSession({}, bearer(newer.accessToken))).valid).toBe(true);
  });
});
