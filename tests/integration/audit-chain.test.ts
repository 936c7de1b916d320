import { createHash } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/warden/admin/v1/admin_service_pb.js";
import { AuditService, ChainCheck, Outcome, type AuditEvent, type QueryAuditEventsRequest } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { adminLogin, login, newUser, type SignedIn } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { BAD_PAGE_TOKENS, collectPages } from "../helpers/pages.js";
import { createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const WRONG_PASSWORD = "Wrong-password-0123";
/** CR LF, quotes, a tab and an ANSI escape: data, never a new log or audit line. */
const HOSTILE_NAME = 'Line one\r\nLine two "quoted" \t \u001b[31m end';
const execute = (t: TestApp, query: ReturnType<typeof sql>) => t.app.hooks.db.execute(query);
// Tampering by someone who bypasses the triggers: tests/integration/audit-tamper.test.ts, and
// rewrites of the whole chain and the checkpoints: tests/security/audit-rewrite.test.ts.

type QueryInit = Partial<Pick<QueryAuditEventsRequest, "actorId" | "targetId" | "eventTypes" | "outcome">>;

/** Every event matching the query, oldest first, across pages. */
async function queryAll(t: TestApp, admin: SignedIn, req: QueryInit): Promise<AuditEvent[]> {
  const { items } = await collectPages(
    async (pageToken) => {
      const r = await t.client(AuditService).queryAuditEvents({ ...req, pageSize: 100, pageToken }, admin.auth);
      return { items: r.events, nextPageToken: r.nextPageToken };
    },
    (e) => String(e.sequence),
    100,
  );
  return items;
}

const summary = (events: AuditEvent[]) => events.map((e) => `${e.eventType}:${Outcome[e.outcome]}`);

describe("audit log", () => {
  let t: TestApp;
  let admin: SignedIn;
  let u: SignedIn;
  let managed: string;
  const verify = () => t.client(AuditService).verifyAuditChain({}, admin.auth);

  beforeAll(async () => {
    t = await createTestApp();
    admin = await adminLogin(t);
    // One of each event, by one user (u) and by the admin on another user (managed).
    u = await newUser(t, { tag: "audited" });
    const auth = t.client(AuthService);
    await expectError(login(t, u.email, WRONG_PASSWORD), Code.Unauthenticated);
    await auth.verifyCredentials({ email: u.email, password: u.password });
    await auth.refresh({ refreshToken: u.refreshToken });
    await expectError(
      auth.refresh({ refreshToken: u.refreshToken }, { headers: { "user-agent": "another-client" } }),
      Code.Unauthenticated,
      "REFRESH_TOKEN_REUSED",
    );
    const again = await login(t, u.email, u.password);
    const third = await login(t, u.email, u.password);
    await t.client(SessionService).revokeSession({ id: third.sessionId }, again.auth);
    await auth.changePassword({ currentPassword: u.password, newPassword: "granite-Willow-lantern-5820" }, again.auth);
    await auth.logout({}, again.auth);

    const users = t.client(UserService);
    managed = (await users.createUser({ email: uniqueEmail("managed"), password: STRONG_PASSWORD }, admin.auth)).user!.id;
    await users.updateUser({ id: managed, displayName: HOSTILE_NAME, admin: true }, admin.auth);
    await users.disableUser({ id: managed }, admin.auth);
    await users.enableUser({ id: managed }, admin.auth);
    await users.deleteUser({ id: managed }, admin.auth);
    await t.client(AdminService).rotateSigningKey({}, admin.auth);
  });
  afterAll(async () => t?.close());

  it("records each of the user's events with the right outcome, in order", async () => {
    const events = await queryAll(t, admin, { actorId: u.userId });
    expect(summary(events)).toEqual([
      "auth.register:SUCCESS",
      "user.email_verification_sent:SUCCESS",
      "auth.login:SUCCESS",
      "auth.login:FAILURE",
      "auth.verify_credentials:SUCCESS",
      "auth.refresh:SUCCESS",
      "auth.refresh_reuse:FAILURE",
      "auth.login:SUCCESS",
      "auth.login:SUCCESS",
      "session.revoke:SUCCESS",
      "auth.change_password:SUCCESS",
      "auth.logout:SUCCESS",
    ]);
    // Its other sessions were already ended (reuse, revoke), so the change ended none.
    expect(events.find((e) => e.eventType === "auth.change_password")?.details).toMatchObject({ revoked_sessions: "0" });
  });

  it("records the administrator's changes to a user, aimed at that user", async () => {
    const events = await queryAll(t, admin, { targetId: managed });
    expect(summary(events)).toEqual(["user.create:SUCCESS", "user.update:SUCCESS", "user.disable:SUCCESS", "user.enable:SUCCESS", "user.delete:SUCCESS"]);
    expect(events.every((e) => e.actorId === admin.userId && e.actorType === "user")).toBe(true);
  });

  it("records the key rotation", async () => {
    const [rotation] = await queryAll(t, admin, { eventTypes: ["admin.rotate_signing_key"] });
    expect(rotation).toMatchObject({ outcome: Outcome.SUCCESS, actorId: admin.userId, targetType: "signing_key" });
  });

  it("stores control characters as data: the value round-trips and the chain still verifies", async () => {
    const [update] = await queryAll(t, admin, { targetId: managed, eventTypes: ["user.update"] });
    expect(update?.details.displayName).toBe(HOSTILE_NAME);
    await expect(verify()).resolves.toMatchObject({ intact: true });
  });

  it("records a failed login for an unknown email without the email itself", async () => {
    const email = uniqueEmail("unknown");
    await expectError(login(t, email, WRONG_PASSWORD), Code.Unauthenticated);
    const failures = await queryAll(t, admin, { eventTypes: ["auth.login"], outcome: Outcome.FAILURE });
    const hashed = createHash("sha256").update(email).digest("hex").slice(0, 16);
    const mine = failures.filter((e) => e.details.email_sha256 === hashed);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ actorId: "", details: { reason: "bad_credentials" } });
  });

  it("never stores a password, a token or a raw email", async () => {
    const everything = JSON.stringify(await queryAll(t, admin, {}), (_k, v) => (typeof v === "bigint" ? String(v) : v));
    for (const secret of [u.password, WRONG_PASSWORD, u.refreshToken, u.accessToken, u.email]) expect(everything).not.toContain(secret);
  });

  it("ignores a spoofed X-Forwarded-For and keeps only a well-formed request id", async () => {
    const v = await newUser(t, { tag: "spoof" });
    const requestId = "req-0123456789-abcdef";
    await t.client(AuthService).login({ email: v.email, password: v.password }, { headers: { "x-forwarded-for": "6.6.6.6", "x-request-id": requestId } });
    await t.client(AuthService).login({ email: v.email, password: v.password }, { headers: { "x-request-id": "not a safe id; <script>" } });
    const logins = await queryAll(t, admin, { actorId: v.userId, eventTypes: ["auth.login"] });
    expect(logins).toHaveLength(3);
    expect(logins.map((e) => e.clientIp)).not.toContain("6.6.6.6");
    expect(logins[1]?.requestId).toBe(requestId);
    expect(logins[2]?.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("lists newest first and pages through every event exactly once", async () => {
    const stats = await t.client(AdminService).getSystemStats({}, admin.auth);
    const { ids: sequences } = await collectPages(
      async (pageToken) => {
        const r = await t.client(AuditService).listAuditLogs({ pageSize: 7, pageToken }, admin.auth);
        return { items: r.events, nextPageToken: r.nextPageToken };
      },
      (e) => String(e.sequence),
      7,
    );
    expect(sequences.length).toBe(Number(stats.auditEventsTotal));
    const numbers = sequences.map(Number);
    expect(numbers).toEqual([...numbers].sort((a, b) => b - a));
  });

  it("pages QueryAuditEvents oldest first without gaps or repeats", async () => {
    const all = (await queryAll(t, admin, {})).map((e) => Number(e.sequence));
    const { ids: paged } = await collectPages(
      async (pageToken) => {
        const r = await t.client(AuditService).queryAuditEvents({ pageSize: 4, pageToken }, admin.auth);
        return { items: r.events, nextPageToken: r.nextPageToken };
      },
      (e) => String(e.sequence),
      4,
    );
    expect(paged.map(Number)).toEqual(all);
    expect(all).toEqual([...all].sort((a, b) => a - b));
  });

  it.each(BAD_PAGE_TOKENS)("refuses a page_token that is %s", async (_name, pageToken) => {
    await expectError(t.client(AuditService).listAuditLogs({ pageToken }, admin.auth), Code.InvalidArgument);
    await expectError(t.client(AuditService).queryAuditEvents({ pageToken }, admin.auth), Code.InvalidArgument);
  });

  it("is for administrators only", async () => {
    const v = await newUser(t, { tag: "nosy" });
    const audit = t.client(AuditService);
    for (const call of [
      () => audit.listAuditLogs({}, v.auth),
      () => audit.queryAuditEvents({}, v.auth),
      () => audit.verifyAuditChain({}, v.auth),
      () => audit.createAuditCheckpoint({}, v.auth),
      () => audit.getAuditCheckpoint({}, v.auth),
      () => audit.listAuditCheckpoints({}, v.auth),
    ])
      await expectError(call(), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectError(audit.listAuditLogs({}), Code.Unauthenticated);
    await expectError(audit.getAuditCheckpoint({}), Code.Unauthenticated);
  });

  it("links every event with the current chain key, sign-in's single statement included", async () => {
    const events = await queryAll(t, admin, {});
    expect(events.map((e) => e.eventType)).toContain("auth.login");
    expect(new Set(events.map((e) => e.keyId))).toEqual(new Set(["v1"]));
  });

  it("signs the chain head on request, answers the newest checkpoint, and lists them newest first", async () => {
    const audit = t.client(AuditService);
    const { checkpoint: made } = await audit.createAuditCheckpoint({}, admin.auth);
    const [newest] = (await audit.listAuditLogs({ pageSize: 1 }, admin.auth)).events;
    expect(made).toMatchObject({ sequence: newest!.sequence, hash: newest!.hash });
    // Nothing happened since: the same checkpoint again, not a new one.
    await expect(audit.createAuditCheckpoint({}, admin.auth)).resolves.toMatchObject({ checkpoint: { number: made!.number } });
    await expect(audit.getAuditCheckpoint({}, admin.auth)).resolves.toMatchObject({ checkpoint: made });

    await newUser(t, { tag: "after-checkpoint" });
    await audit.createAuditCheckpoint({}, admin.auth);
    const { ids } = await collectPages(
      async (pageToken) => {
        const r = await audit.listAuditCheckpoints({ pageSize: 1, pageToken }, admin.auth);
        return { items: r.checkpoints, nextPageToken: r.nextPageToken };
      },
      (c) => String(c.number),
      1,
    );
    expect(ids.map(Number)).toEqual(Array.from({ length: ids.length }, (_, i) => ids.length - i));
    expect(ids.length).toBeGreaterThanOrEqual(3); // at start, and the two above
  });

  it("refuses bad checkpoint paging", async () => {
    const audit = t.client(AuditService);
    await expectError(audit.listAuditCheckpoints({ pageSize: -1 }, admin.auth), Code.InvalidArgument);
    await expectError(audit.listAuditCheckpoints({ pageToken: "x".repeat(1025) }, admin.auth), Code.InvalidArgument);
    for (const [, pageToken] of BAD_PAGE_TOKENS) await expectError(audit.listAuditCheckpoints({ pageToken }, admin.auth), Code.InvalidArgument);
  });

  it("verifies as intact, counting every event and checkpoint", async () => {
    const r = await verify();
    const total = (await t.client(AdminService).getSystemStats({}, admin.auth)).auditEventsTotal;
    const checkpoints = (await t.client(AuditService).listAuditCheckpoints({ pageSize: 100 }, admin.auth)).checkpoints;
    expect(r).toMatchObject({ intact: true, firstBrokenSequence: 0n, problem: "", failedCheck: ChainCheck.UNSPECIFIED });
    expect(r.checkedEvents).toBe(total);
    expect(r.checkedCheckpoints).toBe(BigInt(checkpoints.length));
  });

  it.each(["audit_events", "audit_checkpoints"])("refuses UPDATE, DELETE and TRUNCATE on %s (append-only triggers)", async (table) => {
    const name = sql.identifier(table);
    const key = sql.identifier(table === "audit_events" ? "sequence" : "number");
    // The database's own refusal, under the driver's "Failed query" wrapper.
    const refusal = (query: ReturnType<typeof sql>) =>
      execute(t, query).then(
        () => "done",
        (err: Error & { cause?: Error }) => err.cause?.message ?? err.message,
      );
    await expect(refusal(sql`update ${name} set hash = 'x' where ${key} = 1`)).resolves.toBe(`${table} is append-only (UPDATE refused)`);
    await expect(refusal(sql`delete from ${name} where ${key} = 1`)).resolves.toBe(`${table} is append-only (DELETE refused)`);
    await expect(refusal(sql`truncate ${name}`)).resolves.toBe(`${table} is append-only (TRUNCATE refused)`);
    await expect(verify()).resolves.toMatchObject({ intact: true });
  });
});
