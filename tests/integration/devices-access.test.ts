import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { DeviceService, type Device } from "../../gen/warden/device/v1/device_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { login } from "../helpers/accounts.js";
import { queryRows } from "../helpers/database.js";
import { registerDevice } from "../helpers/device-keys.js";
import { expectError, outcome } from "../helpers/expect-error.js";
import { bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { TENANCY_SETTINGS, unknownId, useTenancyWorld, type Caller, type Team } from "../helpers/tenancy-world.js";

const NOT_FOUND = "NotFound:DEVICE_NOT_FOUND";

describe("devices: who sees, revokes and trusts them", () => {
  const w = useTenancyWorld({ max_organizations_per_user: 1000 });
  let devices: Client<typeof DeviceService>;
  let team: Team;
  let other: Team;
  let sysadmin: Caller;
  /** The member's device, and the admin's. */
  let memberDevice: Device;
  let adminDevice: Device;
  beforeAll(async () => {
    devices = w.t.client(DeviceService);
    [team, other, sysadmin] = await Promise.all([w.team("acc"), w.team("acc-other"), w.admin()]);
    memberDevice = (await registerDevice(devices, team.id, { as: team.member.as, name: "member laptop" })).device;
    adminDevice = (await registerDevice(devices, team.id, { as: team.admin.as, kind: "p256" })).device;
  });

  const get = (id: string, c: Caller) => outcome(devices.getDevice({ id }, c.as));
  const listed = async (c: Caller, orgId = team.id, showRevoked = false) =>
    (await devices.listDevices({ organizationId: orgId, showRevoked, pageSize: 500 }, c.as)).devices.map((d) => d.id);

  describe("GetDevice", () => {
    it("the owner, the organization's admins and owners, and system admins see it; anyone else hears NOT_FOUND", async () => {
      const id = memberDevice.id;
      expect({
        owner: await get(id, team.owner),
        admin: await get(id, team.admin),
        member: await get(id, team.member),
        viewer: await get(id, team.viewer),
        otherOrgOwner: await get(id, other.owner),
        sysadmin: await get(id, sysadmin),
      }).toEqual({ owner: "OK", admin: "OK", member: "OK", viewer: NOT_FOUND, otherOrgOwner: NOT_FOUND, sysadmin: "OK" });
      // Exactly what an id that names nothing answers.
      expect(await get(unknownId(), team.viewer)).toBe(NOT_FOUND);
      expect(await get(unknownId(), sysadmin)).toBe(NOT_FOUND);
      const seen = (await devices.getDevice({ id }, team.admin.as)).device!;
      expect([seen.name, seen.userId, seen.organizationId]).toEqual(["member laptop", team.member.id, team.id]);
    });

    it("API keys by their organization role: an admin key sees every device of its organization, a read key only its owner's", async () => {
      const adminKey = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.ADMIN]);
      const readKey = await w.apiKey(team.member.as, team.id, [ApiKeyScope.READ]);
      const foreignKey = await w.apiKey(other.owner.as, other.id, [ApiKeyScope.ADMIN]);
      expect(await outcome(devices.getDevice({ id: adminDevice.id }, adminKey.as))).toBe("OK");
      expect(await outcome(devices.getDevice({ id: adminDevice.id }, readKey.as))).toBe(NOT_FOUND);
      expect(await outcome(devices.getDevice({ id: memberDevice.id }, foreignKey.as))).toBe(NOT_FOUND);
      const list = await devices.listDevices({ organizationId: team.id }, readKey.as);
      expect(list.devices.map((d) => d.userId)).toEqual([team.member.id]);
    });
  });

  describe("ListDevices", () => {
    it("a member lists its own devices; admins and owners the organization's; another organization's members are refused", async () => {
      expect(await listed(team.member)).toEqual([memberDevice.id]);
      expect(await listed(team.viewer)).toEqual([]);
      for (const c of [team.admin, team.owner, sysadmin]) expect(await listed(c)).toEqual(expect.arrayContaining([memberDevice.id, adminDevice.id]));
      await expectError(devices.listDevices({ organizationId: team.id }, other.owner.as), Code.PermissionDenied, "ORGANIZATION_ROLE_REQUIRED");
      expect(await listed(other.owner, other.id)).not.toContain(memberDevice.id);
    });

    it("pages in creation order, and shows revoked devices only when asked", async () => {
      const t = await w.team("pages");
      const made: string[] = [];
      for (let i = 0; i < 5; i++) {
        made.push((await registerDevice(devices, t.id, { as: t.member.as })).device.id);
        w.t.clock.advance(1);
      }
      await devices.revokeDevice({ id: made[1]! }, t.member.as);
      const pages: string[][] = [];
      let token = "";
      do {
        const page = await devices.listDevices({ organizationId: t.id, pageSize: 2, pageToken: token }, t.admin.as);
        pages.push(page.devices.map((d) => d.id));
        token = page.nextPageToken;
      } while (token);
      expect(pages.flat()).toEqual(made.filter((_, i) => i !== 1));
      expect(pages[0]).toHaveLength(2);
      expect(await listed(t.member, t.id, true)).toEqual(made);
      const revoked = (await devices.listDevices({ organizationId: t.id, showRevoked: true }, t.member.as)).devices[1]!;
      expect(timestampDate(revoked.revokeTime!)).toBeInstanceOf(Date);
      await expectError(devices.listDevices({ organizationId: t.id, pageToken: "forged" }, t.admin.as), Code.InvalidArgument);
    });
  });

  describe("RevokeDevice", () => {
    let second: TestApp;
    beforeAll(async () => {
      second = await createTestApp({ ...TENANCY_SETTINGS, max_organizations_per_user: 1000 }, { sameDatabaseAs: w.t });
    });
    afterAll(async () => second?.close());

    const bindSession = (sessionId: string, deviceId: string) =>
      w.t.app.hooks.db.execute(sql`update sessions set device_id = ${deviceId} where id = ${sessionId}`);
    const validate = (t: TestApp, token: string) => outcome(t.client(SessionService).validateSession({}, bearer(token)));

    it("ends every live session bound to the device, on every instance, at once; other sessions live on", async () => {
      const t = await w.team("revoke");
      const { device } = await registerDevice(devices, t.id, { as: t.member.as });
      const email = t.member.email;
      const [boundA, boundB, unbound] = [
        await login(w.t, email, STRONG_PASSWORD),
        await login(w.t, email, STRONG_PASSWORD),
        await login(w.t, email, STRONG_PASSWORD),
      ];
      await bindSession(boundA.sessionId, device.id);
      await bindSession(boundB.sessionId, device.id);
      // Both instances have the sessions cached as live.
      for (const app of [w.t, second]) for (const s of [boundA, boundB, unbound]) expect(await validate(app, s.accessToken)).toBe("OK");

      const r = await devices.revokeDevice({ id: device.id }, t.member.as);
      expect(r.revokedSessions).toBe(2);
      for (const s of [boundA, boundB]) {
        expect(await validate(w.t, s.accessToken)).toBe("Unauthenticated:SESSION_REVOKED");
        await expect.poll(() => validate(second, s.accessToken)).toBe("Unauthenticated:SESSION_REVOKED");
      }
      expect(await validate(w.t, unbound.accessToken)).toBe("OK");
      expect(await validate(second, unbound.accessToken)).toBe("OK");
      const rows = await queryRows<{ id: string; revoke_reason: string | null }>(
        w.t.app.hooks.db,
        sql`select id, revoke_reason from sessions where id in (${boundA.sessionId}, ${boundB.sessionId}, ${unbound.sessionId})`,
      );
      expect(Object.fromEntries(rows.map((s) => [s.id, s.revoke_reason]))).toEqual({
        [boundA.sessionId]: "device_revoked",
        [boundB.sessionId]: "device_revoked",
        [unbound.sessionId]: null,
      });
      const audit = await queryRows<{ event_type: string; actor_id: string; details: Record<string, string> }>(
        w.t.app.hooks.db,
        sql`select event_type, actor_id, details from audit_events where target_id = ${device.id} and event_type = 'device.revoke'`,
      );
      expect(audit).toEqual([
        { event_type: "device.revoke", actor_id: t.member.id, details: { organization_id: t.id, user_id: t.member.id, revoked_sessions: "2" } },
      ]);
      const after = (await devices.getDevice({ id: device.id }, t.member.as)).device!;
      expect(timestampDate(after.revokeTime!)).toEqual(w.t.clock.now());
      expect(await listed(t.member, t.id)).not.toContain(device.id);
    });

    it("is idempotent: revoking again ends nothing more and records nothing", async () => {
      const t = await w.team("again");
      const { device } = await registerDevice(devices, t.id, { as: t.member.as });
      expect((await devices.revokeDevice({ id: device.id }, t.admin.as)).revokedSessions).toBe(0);
      expect((await devices.revokeDevice({ id: device.id }, t.member.as)).revokedSessions).toBe(0);
      const audit = await queryRows(w.t.app.hooks.db, sql`select 1 from audit_events where target_id = ${device.id} and event_type = 'device.revoke'`);
      expect(audit).toHaveLength(1);
    });

    it("the owner, the organization's admins, or system admins; anyone else hears NOT_FOUND and nothing changes", async () => {
      const t = await w.team("who-revokes");
      const mk = async () => (await registerDevice(devices, t.id, { as: t.member.as })).device.id;
      for (const c of [t.viewer, other.owner]) {
        const id = await mk();
        expect(await outcome(devices.revokeDevice({ id }, c.as))).toBe(NOT_FOUND);
        expect((await devices.getDevice({ id }, t.member.as)).device!.revokeTime).toBeUndefined();
      }
      expect(await outcome(devices.revokeDevice({ id: unknownId() }, t.admin.as))).toBe(NOT_FOUND);
      for (const c of [t.member, t.admin, t.owner, sysadmin]) expect(await outcome(devices.revokeDevice({ id: await mk() }, c.as))).toBe("OK");
      // A read-only key cannot; an admin key of the organization can.
      const readKey = await w.apiKey(t.owner.as, t.id, [ApiKeyScope.READ]);
      await expectError(devices.revokeDevice({ id: await mk() }, readKey.as), Code.PermissionDenied, "INSUFFICIENT_SCOPE");
      const adminKey = await w.apiKey(t.owner.as, t.id, [ApiKeyScope.ADMIN]);
      expect(await outcome(devices.revokeDevice({ id: await mk() }, adminKey.as))).toBe("OK");
    });
  });

  describe("TrustDevice", () => {
    it("only the organization's admins and owners (and system admins); the device's own user hears DEVICE_ACCESS_DENIED", async () => {
      const t = await w.team("trust");
      const { device } = await registerDevice(devices, t.id, { as: t.member.as });
      const trust = (c: Caller, trusted = true, id = device.id) => outcome(devices.trustDevice({ id, trusted }, c.as));
      expect(await trust(t.member)).toBe("PermissionDenied:DEVICE_ACCESS_DENIED");
      expect(await trust(t.viewer)).toBe(NOT_FOUND);
      expect(await trust(other.owner)).toBe(NOT_FOUND);
      expect(await trust(t.admin, true, unknownId())).toBe(NOT_FOUND);
      expect((await devices.getDevice({ id: device.id }, t.member.as)).device!.trusted).toBe(false);

      const r = await devices.trustDevice({ id: device.id, trusted: true }, t.admin.as);
      expect(r.device!.trusted).toBe(true);
      expect((await devices.getDevice({ id: device.id }, t.member.as)).device!.trusted).toBe(true);
      expect(await trust(t.owner, false)).toBe("OK");
      expect(await trust(sysadmin, true)).toBe("OK");
      const audit = await queryRows<{ actor_id: string; details: Record<string, string> }>(
        w.t.app.hooks.db,
        sql`select actor_id, details from audit_events where target_id = ${device.id} and event_type = 'device.trust' order by sequence`,
      );
      expect(audit.map((a) => [a.actor_id, a.details.trusted])).toEqual([
        [t.admin.id, "true"],
        [t.owner.id, "false"],
        [sysadmin.id, "true"],
      ]);
    });

    it("a revoked device cannot be trusted", async () => {
      const t = await w.team("trust-revoked");
      const { device } = await registerDevice(devices, t.id, { as: t.member.as });
      await devices.revokeDevice({ id: device.id }, t.member.as);
      await expectError(devices.trustDevice({ id: device.id, trusted: true }, t.admin.as), Code.PermissionDenied, "DEVICE_REVOKED");
    });

    it("API keys need the admin scope (and then act as admins)", async () => {
      const t = await w.team("trust-keys");
      const { device } = await registerDevice(devices, t.id, { as: t.member.as });
      const writeKey = await w.apiKey(t.owner.as, t.id, [ApiKeyScope.WRITE]);
      await expectError(devices.trustDevice({ id: device.id, trusted: true }, writeKey.as), Code.PermissionDenied, "INSUFFICIENT_SCOPE");
      const adminKey = await w.apiKey(t.owner.as, t.id, [ApiKeyScope.ADMIN]);
      expect((await devices.trustDevice({ id: device.id, trusted: true }, adminKey.as)).device!.trusted).toBe(true);
    });
  });

  describe("posture", () => {
    it("is fresh while younger than device_posture_max_age, then unknown (the report time stays)", async () => {
      const t = await w.team("posture");
      const { device } = await registerDevice(devices, t.id, { as: t.member.as });
      const report = (at: Date) =>
        w.t.app.hooks.db.execute(
          sql`update devices set posture_os = 'macos', posture_os_version = '14.5', posture_disk_encrypted = true, posture_screen_lock = true, posture_agent_version = '1.2.3', posture_at = ${at.toISOString()}::timestamptz where id = ${device.id}`,
        );
      const maxAge = w.t.config.device_posture_max_age;
      await report(new Date(w.t.clock.now().getTime() - maxAge * 1000));
      const fresh = (await devices.getDevice({ id: device.id }, t.member.as)).device!.posture!;
      expect(fresh).toMatchObject({ os: "macos", osVersion: "14.5", diskEncrypted: true, screenLock: true, agentVersion: "1.2.3", fresh: true });
      const at = new Date(w.t.clock.now().getTime() - (maxAge + 1) * 1000);
      await report(at);
      const stale = (await devices.getDevice({ id: device.id }, t.member.as)).device!.posture!;
      expect(stale).toMatchObject({ os: "", osVersion: "", diskEncrypted: false, screenLock: false, agentVersion: "", fresh: false });
      expect(timestampDate(stale.reportTime!)).toEqual(at);
    });
  });
});
