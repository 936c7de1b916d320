import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Code, type Client } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessRequestService, ReviewDecision } from "../../gen/warden/access/v1/access_request_service_pb.js";
import { LockService, LockTargetKind } from "../../gen/warden/lock/v1/lock_service_pb.js";
import { NotificationService } from "../../gen/warden/notification/v1/notification_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { createWebhookSender } from "../../src/domain/notification/webhook-sender.js";
import { checkWebhookUrl, isPublicAddress } from "../../src/domain/notification/webhook-target.js";
import { localSession } from "../helpers/accounts.js";
import { queryRows } from "../helpers/database.js";
import { expectError, expectFailure, violatedFields } from "../helpers/expect-error.js";
import { addTotp, adminWithTotp, auditOf, freshProof, signUp, type Member, type TotpMember } from "../helpers/mfa-world.js";
import { bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver on loopback: records every POST, answers from a per-path script (200 once it runs out). */
class Receiver {
  readonly got: Received[] = [];
  readonly script = new Map<string, number[]>();
  private server!: Server;
  base = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (body += c));
      req.on("end", () => {
        const path = req.url ?? "";
        this.got.push({ path, headers: req.headers, body });
        const status = this.script.get(path)?.shift() ?? 200;
        res.writeHead(status, status === 302 ? { location: `${this.base}/elsewhere` } : {}).end(status === 200 ? "ok" : `no: ${"x".repeat(5000)}`);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  at(path: string): Received[] {
    return this.got.filter((r) => r.path === path);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What a receiver does: the signature over "<timestamp>.<body>" with the secret returned at creation. */
function signatureOk(r: Received, secret: string): boolean {
  const ts = String(r.headers["warden-webhook-timestamp"]);
  const expected = `v1=${createHmac("sha256", secret).update(`${ts}.${r.body}`).digest("hex")}`;
  return r.headers["warden-webhook-signature"] === expected;
}

/** Loopback allowed (the receiver), quick retries, three attempts. */
const SETTINGS = { notification_allow_loopback: true, notification_retry_base: 5, notification_max_attempts: 3, notification_timeout: 5 };

const EVERY_ACCESS_EVENT = [
  "access_request.create",
  "access_request.review",
  "access_request.approve",
  "access_request.deny",
  "access_request.cancel",
  "access_request.expire",
];

/**
 * NotificationService on one app with a real webhook receiver on loopback (allowed by
 * notification_allow_loopback): signed deliveries for locks and access requests, retries with
 * backoff and the last attempt, disabled and deleted channels, who may call, and URL checks.
 */
describe("notification channels", () => {
  let t: TestApp;
  let admin: TotpMember;
  let channels: Client<typeof NotificationService>;
  let locks: Client<typeof LockService>;
  let requests: Client<typeof AccessRequestService>;
  const receiver = new Receiver();
  let count = 0;
  let requester: Member;
  let reviewer: Member;

  beforeAll(async () => {
    await receiver.start();
    t = await createTestApp(SETTINGS, { startAt: new Date(Date.now() - 60 * 60_000) });
    channels = t.client(NotificationService);
    locks = t.client(LockService);
    requests = t.client(AccessRequestService);
    admin = await adminWithTotp(t);
    const roles = t.client(RoleService);
    const RULES = [{ resources: ["session"], verbs: ["get"], effect: 1 }];
    await roles.createRole({ role: { name: "nc-oncall", description: "asked for", rules: RULES, maxSessionTtl: { seconds: 3600n } } }, admin.h);
    await roles.createRole({ role: { name: "nc-requester", description: "asks", rules: RULES, requestRoles: ["nc-oncall"] } }, admin.h);
    await roles.createRole({ role: { name: "nc-reviewer", description: "reviews", rules: RULES, reviewRoles: ["nc-oncall"] } }, admin.h);
    const member = async (tag: string, role: string) => {
      const m = await signUp(t, tag);
      await t.client(UserService).updateUser({ id: m.userId, roles: [role], updateRoles: true }, admin.h);
      const session = await localSession(t, m.email, STRONG_PASSWORD);
      return { ...m, token: session, h: bearer(session) };
    };
    requester = await member("nc-requester", "nc-requester");
    reviewer = await member("nc-reviewer", "nc-reviewer");
  });
  afterAll(async () => {
    await t?.close();
    await receiver.close();
  });

  const channel = async (path: string, eventTypes: string[]) => {
    await freshProof(t, admin);
    const r = await channels.createNotificationChannel({ name: `nc-${++count}`, webhookUrl: `${receiver.base}${path}`, eventTypes }, admin.h);
    return { id: r.channel!.id, secret: r.signingSecret };
  };
  const drop = async (id: string) => {
    await freshProof(t, admin);
    await channels.deleteNotificationChannel({ id }, admin.h);
  };
  const lockLogin = async (login: string) => {
    await freshProof(t, admin);
    return (await locks.createLock({ target: { kind: LockTargetKind.LOGIN, value: login } }, admin.h)).lock!;
  };
  const deliveriesOf = (channelId: string) =>
    queryRows<{ state: string; attempts: number; last_status: number | null; last_error: string | null; next_attempt_at: string }>(
      t.app.hooks.db,
      sql`select state, attempts, last_status, last_error, next_attempt_at from notification_deliveries where channel_id = ${channelId}`,
    );

  it("a lock's creation and deletion reach the webhook, signed with the secret returned once", async () => {
    const c = await channel("/locks", ["lock.create", "lock.delete"]);
    expect(c.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const lock = await lockLogin("ncdeploy");

    const [created] = await until("lock.create", () => receiver.at("/locks").length >= 1 && receiver.at("/locks"));
    expect(signatureOk(created!, c.secret)).toBe(true);
    expect(signatureOk(created!, "whsec_wrong")).toBe(false);
    expect(created!.headers["content-type"]).toBe("application/json");
    expect(created!.headers["warden-webhook-event"]).toBe("lock.create");
    expect(Math.abs(Number(created!.headers["warden-webhook-timestamp"]) - t.clock.now().getTime() / 1000)).toBeLessThan(60);
    const body = JSON.parse(created!.body);
    expect(body).toMatchObject({
      id: created!.headers["warden-webhook-id"],
      type: "lock.create",
      actor: { type: "user", id: admin.userId },
      target: { type: "lock", id: lock.id },
      details: { target_kind: "login", target_value: "ncdeploy" },
    });
    expect(Date.parse(body.occurred_at)).toBeGreaterThan(0);

    await freshProof(t, admin);
    await locks.deleteLock({ id: lock.id }, admin.h);
    const deleted = await until("lock.delete", () => receiver.at("/locks")[1]);
    expect(signatureOk(deleted, c.secret)).toBe(true);
    expect(JSON.parse(deleted.body)).toMatchObject({ type: "lock.delete", target: { id: lock.id } });
    expect(deleted.headers["warden-webhook-id"]).not.toBe(created!.headers["warden-webhook-id"]);
    await until("both recorded as delivered", async () => (await deliveriesOf(c.id)).filter((d) => d.state === "delivered").length === 2);

    // The secret is shown once: listed channels never carry it; the audit names the host only.
    const listed = (await channels.listNotificationChannels({}, admin.h)).channels.find((x) => x.id === c.id)!;
    expect(listed).toMatchObject({ name: `nc-${count}`, webhookUrl: `${receiver.base}/locks`, eventTypes: ["lock.create", "lock.delete"], disabled: false });
    expect(JSON.stringify(listed, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toContain(c.secret);
    const [audited] = (await auditOf(t, "notification_channel.create", admin.userId)).filter((e) => e.targetId === c.id);
    expect(audited!.details).toMatchObject({ webhook_host: new URL(receiver.base).host, event_types: "lock.create,lock.delete" });
    const stored = await queryRows<{ secret_sealed: string }>(t.app.hooks.db, sql`select secret_sealed from notification_channels where id = ${c.id}`);
    expect(stored[0]!.secret_sealed).not.toContain(c.secret.slice(6));
    await drop(c.id);
  });

  it("access requests: created, approved, denied, cancelled and expired, each signed", async () => {
    const c = await channel("/access", EVERY_ACCESS_EVENT);
    const ask = async () => (await requests.createAccessRequest({ roles: ["nc-oncall"], reason: "incident 9" }, requester.h)).accessRequest!;
    const denied = await ask();
    await requests.reviewAccessRequest({ id: denied.id, decision: ReviewDecision.DENY, reason: "no" }, reviewer.h);
    const cancelled = await ask();
    await requests.cancelAccessRequest({ id: cancelled.id }, requester.h);
    // Last: once approved, the requester holds the role and may not ask for it again.
    const approved = await ask();
    await requests.reviewAccessRequest({ id: approved.id, decision: ReviewDecision.APPROVE, reason: "ok" }, reviewer.h);

    const got = await until("six access events", () => receiver.at("/access").length >= 6 && receiver.at("/access"));
    for (const r of got) expect(signatureOk(r, c.secret)).toBe(true);
    const events = got.map((r) => JSON.parse(r.body) as { type: string; target: { id: string } });
    // Events due together are sent concurrently: their order at the receiver is not fixed.
    const of = (id: string) =>
      events
        .filter((e) => e.target.id === id)
        .map((e) => e.type)
        .sort();
    expect(of(approved.id)).toEqual(["access_request.approve", "access_request.create"]);
    expect(of(denied.id)).toEqual(["access_request.create", "access_request.deny"]);
    expect(of(cancelled.id)).toEqual(["access_request.cancel", "access_request.create"]);

    // The approved access runs out (the role's cap, an hour): the expiry sweep audits it once, and
    // the channel hears of it once (the app's own sweep runs on a timer; this one runs now).
    t.clock.advance(3601);
    expect(await t.app.hooks.accessExpiry.sweep()).toBe(1);
    const expired = await until("access_request.expire", () => receiver.at("/access").find((r) => JSON.parse(r.body).type === "access_request.expire"));
    expect(signatureOk(expired, c.secret)).toBe(true);
    expect(JSON.parse(expired.body)).toMatchObject({
      target: { type: "access_request", id: approved.id },
      details: { previous_state: "approved", requester_id: requester.userId, roles: "nc-oncall" },
    });
    await t.app.hooks.accessExpiry.sweep();
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.at("/access").filter((r) => JSON.parse(r.body).type === "access_request.expire")).toHaveLength(1);
    await drop(c.id);
  });

  it("a failing receiver (500, then 200) is retried after a backoff with the same delivery id; after the last attempt it is failed", async () => {
    receiver.script.set("/flaky", [500]);
    const flaky = await channel("/flaky", ["lock.create"]);
    receiver.script.set("/down", [500, 302, 500, 500]);
    const down = await channel("/down", ["lock.create"]);
    await lockLogin("ncflaky");

    await until("first attempts", () => receiver.at("/flaky").length >= 1 && receiver.at("/down").length >= 1);
    const [first] = await until("a retry scheduled", async () => {
      const rows = await deliveriesOf(flaky.id);
      return rows[0]?.last_status === 500 && rows;
    });
    expect(first).toMatchObject({ state: "pending", attempts: 1 });
    // Only an excerpt of the answer is kept.
    expect(first!.last_error!.length).toBeLessThanOrEqual(200);
    // Not before its backoff (5 s for the first retry).
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.at("/flaky")).toHaveLength(1);

    t.clock.advance(6);
    const [a, b] = await until("the retry", () => receiver.at("/flaky").length >= 2 && receiver.at("/flaky"));
    expect(b!.headers["warden-webhook-id"]).toBe(a!.headers["warden-webhook-id"]);
    expect(signatureOk(b!, flaky.secret)).toBe(true);
    await until("delivered", async () => (await deliveriesOf(flaky.id))[0]?.state === "delivered");

    // The second attempt got a redirect, not followed; the third (after 10 s more) is the last.
    await until("the redirect recorded", async () => (await deliveriesOf(down.id))[0]?.last_status === 302);
    expect((await deliveriesOf(down.id))[0]).toMatchObject({ state: "pending", attempts: 2, last_error: expect.stringMatching(/^redirect not followed/) });
    t.clock.advance(11);
    const [failed] = await until("failed for good", async () => {
      const rows = await deliveriesOf(down.id);
      return rows[0]?.state === "failed" && rows;
    });
    expect(failed).toMatchObject({ attempts: 3, last_status: 500 });
    expect(receiver.at("/down")).toHaveLength(3);
    expect(receiver.at("/elsewhere")).toHaveLength(0);
    t.clock.advance(60);
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.at("/down")).toHaveLength(3);
    await drop(flaky.id);
    await drop(down.id);
  });

  it("a disabled channel gets nothing; a deleted one takes its deliveries with it", async () => {
    const disabled = await channel("/disabled", ["lock.create"]);
    const watcher = await channel("/watcher", ["lock.create"]);
    const r = await channels.disableNotificationChannel({ id: disabled.id }, admin.h);
    expect(r.channel!.disabled).toBe(true);
    await lockLogin("ncdisabled");
    await until("the enabled channel's delivery", () => receiver.at("/watcher").length >= 1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.at("/disabled")).toHaveLength(0);
    expect(await deliveriesOf(disabled.id)).toHaveLength(0);

    receiver.script.set("/deleted", [500, 500, 500]);
    const deleted = await channel("/deleted", ["lock.create"]);
    await lockLogin("ncdeleted");
    await until("a failed attempt", async () => (await deliveriesOf(deleted.id))[0]?.last_status === 500);
    await drop(deleted.id);
    expect(await deliveriesOf(deleted.id)).toHaveLength(0);
    expect((await channels.listNotificationChannels({}, admin.h)).channels.map((c) => c.id)).not.toContain(deleted.id);
    await expectError(channels.disableNotificationChannel({ id: deleted.id }, admin.h), Code.NotFound, "NOT_FOUND");
    await freshProof(t, admin);
    await expectError(channels.deleteNotificationChannel({ id: deleted.id }, admin.h), Code.NotFound, "NOT_FOUND");
    expect((await auditOf(t, "notification_channel.delete", admin.userId)).some((e) => e.targetId === deleted.id)).toBe(true);
    expect((await auditOf(t, "notification_channel.disable", admin.userId)).some((e) => e.targetId === disabled.id)).toBe(true);
    await drop(disabled.id);
    await drop(watcher.id);
  });

  it("only admins call it; create and delete want a fresh second factor", async () => {
    const member = await addTotp(t, await signUp(t, "nc-member"));
    await freshProof(t, member);
    const req = { name: "mine", webhookUrl: `${receiver.base}/member`, eventTypes: ["lock.create"] };
    await expectFailure(channels.createNotificationChannel(req, member.h), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectFailure(channels.listNotificationChannels({}, member.h), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectFailure(channels.disableNotificationChannel({ id: crypto.randomUUID() }, member.h), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectFailure(channels.deleteNotificationChannel({ id: crypto.randomUUID() }, member.h), Code.PermissionDenied, "PERMISSION_REQUIRED");

    t.clock.advance(11 * 60);
    await expectFailure(channels.createNotificationChannel(req, admin.h), Code.FailedPrecondition, "MFA_REQUIRED");
    await expectFailure(channels.deleteNotificationChannel({ id: crypto.randomUUID() }, admin.h), Code.FailedPrecondition, "MFA_REQUIRED");
  });

  it("webhook URLs: https only, never private or link-local addresses; event types from the list", async () => {
    await freshProof(t, admin);
    const create = (webhookUrl: string, eventTypes = ["lock.create"]) => channels.createNotificationChannel({ name: "bad", webhookUrl, eventTypes }, admin.h);
    for (const url of [
      "http://example.com/hook",
      "ftp://example.com/hook",
      "https://user:secret@example.com/hook",
      "https://10.0.0.1/hook",
      "https://192.168.1.20/hook",
      "https://172.16.5.5/hook",
      "https://169.254.169.254/latest/meta-data",
      "https://100.64.0.1/hook",
      "https://0.0.0.0/hook",
      "https://[fe80::1]/hook",
      "https://[fc00::1]/hook",
      "https://[::ffff:10.0.0.1]/hook",
      "https://[::]/hook",
      // The loopback setting opens loopback, not private networks, and not http elsewhere.
      "http://10.0.0.1/hook",
    ]) {
      const err = await expectError(create(url), Code.InvalidArgument, "INVALID_ARGUMENT");
      expect(violatedFields(err), url).toEqual(["webhook_url"]);
    }
    expect(violatedFields(await expectError(create("https://example.com/hook", ["lock.created"]), Code.InvalidArgument))).toEqual(["event_types"]);
    expect(violatedFields(await expectError(create("https://example.com/hook", []), Code.InvalidArgument))).toEqual(["event_types"]);
    // A public https URL is fine (nothing is sent until an event happens).
    const ok = await create("https://hooks.example.com/warden?token=abc");
    expect(ok.channel!.webhookUrl).toBe("https://hooks.example.com/warden?token=abc");
    await drop(ok.channel!.id);
  });

  it("two instances on one database: each delivery is sent once (claimed by one of them)", async () => {
    const other = await createTestApp(SETTINGS, { sameDatabaseAs: t });
    try {
      const c = await channel("/shared", ["lock.create"]);
      const made = [];
      for (let i = 0; i < 6; i++) made.push((await lockLogin(`ncshared${i}`)).id);
      const got = await until("six deliveries", () => receiver.at("/shared").length >= 6 && receiver.at("/shared"));
      await new Promise((r) => setTimeout(r, 2500));
      expect(receiver.at("/shared")).toHaveLength(6);
      expect(new Set(got.map((r) => r.headers["warden-webhook-id"])).size).toBe(6);
      expect(got.map((r) => JSON.parse(r.body).target.id).sort()).toEqual(made.sort());
      expect(got.every((r) => signatureOk(r, c.secret))).toBe(true);
      await drop(c.id);
    } finally {
      await other.close();
    }
  });

  it("without the loopback setting, loopback is refused at creation and again when a name resolves to it", async () => {
    const strict = { allowLoopback: false };
    for (const url of ["http://127.0.0.1:8080/", "https://127.0.0.1/", "https://localhost/", "https://[::1]/", "https://a.localhost/", "https://2130706433/"])
      expect(() => checkWebhookUrl(url, strict), url).toThrow(/webhook_url/);
    expect(checkWebhookUrl("https://hooks.example.com/x", strict).host).toBe("hooks.example.com");
    expect(["8.8.8.8", "2606:4700::1111"].every(isPublicAddress)).toBe(true);
    expect(["127.0.0.1", "10.1.2.3", "::1", "fe80::1", "fd00::1", "::ffff:192.168.0.1", "2001:db8::1", "224.0.0.1"].some(isPublicAddress)).toBe(false);

    // At delivery the host is resolved and checked: "localhost" (a name) is refused, nothing is sent.
    const send = createWebhookSender({ allowLoopback: false, timeoutMs: 2000 });
    const port = new URL(receiver.base).port;
    const before = receiver.got.length;
    const r = await send({ url: `http://localhost:${port}/strict`, headers: {}, body: "{}" });
    expect(r).toMatchObject({ ok: false, status: null });
    expect(r.error).toMatch(/refused: localhost resolves to/);
    expect(receiver.got.length).toBe(before);

    // With it, a loopback name is resolved, checked and connected to (the pinned addresses).
    const loose = createWebhookSender({ allowLoopback: true, timeoutMs: 5000 });
    expect(await loose({ url: `http://localhost:${port}/pinned`, headers: {}, body: "{}" })).toMatchObject({ ok: true, status: 200 });
    expect(receiver.at("/pinned")).toHaveLength(1);
    // A receiver that does not answer in time: the attempt ends at the limit, nothing kept but why.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const quick = createWebhookSender({ allowLoopback: true, timeoutMs: 300 });
      const started = Date.now();
      const r2 = await quick({ url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`, headers: {}, body: "{}" });
      expect(r2).toMatchObject({ ok: false, status: null, error: "timed out after 300 ms" });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});
