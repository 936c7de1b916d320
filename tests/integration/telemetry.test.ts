import { randomBytes } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, type CallOptions } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/warden/admin/v1/admin_service_pb.js";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { TelemetryService } from "../../gen/warden/telemetry/v1/telemetry_service_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { TelemetryEventSchema } from "../../gen/warden/telemetry/v1/telemetry_service_pb.js";
import { ManualClock } from "../../src/clock.js";
import { TelemetryPartitions } from "../../src/domain/telemetry/partitions.js";
import { queryRows } from "../helpers/database.js";
import { errorOf, expectError, expectFailure, reasonOf, violatedFields } from "../helpers/expect-error.js";
import { TENANCY_SETTINGS, useTenancyWorld, World, type Caller, type Team } from "../helpers/tenancy-world.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

type EventInit = MessageInitShape<typeof TelemetryEventSchema>;
const MINUTE = 60_000;
const DAY = 86_400_000;
const quiet = { warn() {}, info() {} };

/** A batch of `n` plain events at `at` (the clock's now when absent). */
const events = (n: number, at?: Date, type = "app.launch"): EventInit[] =>
  Array.from({ length: n }, (_, i) => ({ type, time: at && timestampFromDate(at), attributes: { i, app: "editor" } }));

const posture = (os: string, at: Date, deviceId?: string): EventInit => ({
  type: "posture",
  time: timestampFromDate(at),
  deviceId,
  posture: { os, osVersion: "14.5", diskEncrypted: true, screenLock: true, agentVersion: "1.2.3" },
});

/** The app's own world: the test database, its clock, and SQL on it. */
function helpers(w: World) {
  const client = () => w.t.client(TelemetryService);
  const rows = <T = Record<string, unknown>>(q: ReturnType<typeof sql>) => queryRows<T>(w.t.app.hooks.db, q);
  return {
    client,
    rows,
    async stored(orgId: string): Promise<number> {
      const [r] = await rows<{ n: number }>(sql`select count(*)::int as n from telemetry_events where organization_id = ${orgId}`);
      return Number(r!.n);
    },
    /** A device row made directly (the device service's registration is not under test here). */
    async device(orgId: string, userId: string, opts: { revoked?: boolean } = {}): Promise<string> {
      const now = w.t.clock.now().toISOString();
      const [r] = await rows<{ id: string }>(sql`
        insert into devices (organization_id, user_id, name, key_type, public_key, key_fingerprint, created_at, revoked_at)
        values (${orgId}, ${userId}, 'laptop', 'ed25519', 'pem', ${randomBytes(32).toString("hex")}, ${now}::timestamptz,
                ${opts.revoked ? now : null}::timestamptz)
        returning id`);
      return r!.id;
    },
    async bindSessions(userId: string, deviceId: string | null): Promise<void> {
      await rows(sql`update sessions set device_id = ${deviceId}::uuid where user_id = ${userId}`);
    },
    async devicePosture(id: string) {
      const [r] = await rows<{ os: string | null; at_ms: number | null; seen_ms: number | null }>(sql`
        select posture_os as os, (extract(epoch from posture_at) * 1000)::float8 as at_ms, (extract(epoch from last_seen_at) * 1000)::float8 as seen_ms
        from devices where id = ${id}`);
      return { os: r!.os, at: r!.at_ms === null ? null : Math.round(Number(r!.at_ms)), seenAt: r!.seen_ms === null ? null : Math.round(Number(r!.seen_ms)) };
    },
    async partitions(): Promise<string[]> {
      const r = await rows<{ name: string }>(sql`
        select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'telemetry_events'::regclass order by 1`);
      return r.map((x) => x.name);
    },
    /** Partition maintenance on the app's store at a given time (the app runs its own at start). */
    maintenance(at: Date, retentionDays = 30) {
      return new TelemetryPartitions({ store: w.t.app.hooks.store, clock: new ManualClock(at), retentionDays, log: quiet }).runOnce();
    },
  };
}

const dayName = (d: Date) => `telemetry_events_p${d.toISOString().slice(0, 10).replace(/-/g, "")}`;

describe("TelemetryService", () => {
  const w = useTenancyWorld({ max_organizations_per_user: 1000 });
  const h = helpers(w);
  let team: Team;
  let outsider: Caller;
  beforeAll(async () => {
    [team, outsider] = await Promise.all([w.team("tm"), w.user("tm-outsider")]);
    // The app's start-up pass may still run: this one waits for the same lock and leaves today's partition made.
    await h.maintenance(w.t.clock.now());
  });

  const batch = (orgId: string, list: EventInit[], as: CallOptions) => h.client().batchEmitTelemetry({ organizationId: orgId, events: list }, as);

  describe("storing", () => {
    it("stores a batch of 1,000 events in one call, countable in today's partition", async () => {
      const org = await w.org(team.owner);
      const r = await batch(org.id, events(1000), team.owner.as);
      expect(r.accepted).toBe(1000);
      expect(await h.stored(org.id)).toBe(1000);
      const parts = await h.rows<{ part: string; n: number }>(
        sql`select tableoid::regclass::text as part, count(*)::int as n from telemetry_events where organization_id = ${org.id} group by 1`,
      );
      expect(parts.map((p) => [p.part, Number(p.n)])).toEqual([[dayName(w.t.clock.now()), 1000]]);
    });

    it("refuses 1,001 events with INVALID_ARGUMENT and stores none", async () => {
      const org = await w.org(team.owner);
      await expectError(batch(org.id, events(1001), team.owner.as), Code.InvalidArgument);
      await expectError(batch(org.id, [], team.owner.as), Code.InvalidArgument);
      expect(await h.stored(org.id)).toBe(0);
    });

    it.each([
      ["a time 31 days back", { type: "app.launch", time: timestampFromDate(new Date(Date.now() - 31 * DAY)) }, "events[500].time"],
      ["a time two days ahead", { type: "app.launch", time: timestampFromDate(new Date(Date.now() + 2 * DAY)) }, "events[500].time"],
      ["attributes over 4 KiB", { type: "app.launch", attributes: { blob: "x".repeat(4100) } }, "events[500].attributes"],
      ["a posture event without posture", { type: "posture" }, "events[500].posture"],
      ["posture on another type", { ...posture("macOS", new Date()), type: "app.launch" }, "events[500].posture"],
      ["a NUL in the attributes", { type: "app.launch", attributes: { s: "a\u0000b" } }, "events[500].attributes"],
    ] as [string, EventInit, string][])("refuses the whole batch for one bad event (%s), naming its index", async (_what, bad, field) => {
      const org = await w.org(team.owner);
      const list = events(1000);
      list[500] = bad;
      const err = await expectError(batch(org.id, list, team.owner.as), Code.InvalidArgument, "TELEMETRY_EVENT_INVALID");
      expect(violatedFields(err)).toEqual([field]);
      expect(err.rawMessage).toContain(field);
      expect(await h.stored(org.id)).toBe(0);
    });

    it("EmitTelemetryEvent stores one event, defaulting its time to now", async () => {
      const org = await w.org(team.owner);
      await h.client().emitTelemetryEvent({ organizationId: org.id, event: { type: "url.blocked", attributes: { host: "evil.example" } } }, team.owner.as);
      const [r] = await h.rows<{ type: string; host: string; at_ms: number; received_ms: number }>(sql`
        select type, attributes->>'host' as host, (extract(epoch from occurred_at) * 1000)::float8 as at_ms,
               (extract(epoch from received_at) * 1000)::float8 as received_ms
        from telemetry_events where organization_id = ${org.id}`);
      expect([r!.type, r!.host]).toEqual(["url.blocked", "evil.example"]);
      expect(Math.round(Number(r!.at_ms))).toBe(Math.round(Number(r!.received_ms)));
      const err = await expectError(
        h.client().emitTelemetryEvent({ organizationId: org.id, event: { type: "posture" } }, team.owner.as),
        Code.InvalidArgument,
        "TELEMETRY_EVENT_INVALID",
      );
      expect(violatedFields(err)).toEqual(["event.posture"]);
    });
  });

  describe("who may emit", () => {
    it("every member role may; a non-member may not, and stores nothing", async () => {
      for (const who of [team.owner, team.admin, team.member, team.viewer]) expect((await batch(team.id, events(2), who.as)).accepted).toBe(2);
      const before = await h.stored(team.id);
      await expectError(batch(team.id, events(2), outsider.as), Code.PermissionDenied, "ORGANIZATION_ROLE_REQUIRED");
      expect(await h.stored(team.id)).toBe(before);
    });

    it("an API key of the organization with write scope may, tagged with its owner; a read key may not", async () => {
      const org = await w.org(team.member);
      const writer = await w.apiKey(team.member.as, org.id, [ApiKeyScope.WRITE]);
      const reader = await w.apiKey(team.member.as, org.id, [ApiKeyScope.READ]);
      expect((await batch(org.id, events(3), writer.as)).accepted).toBe(3);
      await expectError(batch(org.id, events(3), reader.as), Code.PermissionDenied, "INSUFFICIENT_SCOPE");
      // A key acts in its own organization only.
      await expectError(batch(team.id, events(3), writer.as), Code.PermissionDenied);
      const rows = await h.rows<{ user_id: string | null; n: number }>(
        sql`select user_id, count(*)::int as n from telemetry_events where organization_id = ${org.id} group by 1`,
      );
      expect(rows.map((r) => [r.user_id, Number(r.n)])).toEqual([[team.member.id, 3]]);
    });

    it("a service account with write scope may, tagged with the service account", async () => {
      const org = await w.org(team.owner);
      const sa = await w.serviceAccount(team.owner.as, org.id, [ApiKeyScope.WRITE]);
      const { as } = await w.saToken(sa.sa.clientId, sa.secret);
      expect((await batch(org.id, events(4), as)).accepted).toBe(4);
      const rows = await h.rows<{ user_id: string | null; service_account_id: string | null }>(
        sql`select distinct user_id, service_account_id from telemetry_events where organization_id = ${org.id}`,
      );
      expect(rows).toEqual([{ user_id: null, service_account_id: sa.sa.id }]);
    });
  });

  describe("tagging with the device", () => {
    it("uses the session's bound device when an event names none, and the named device otherwise", async () => {
      const user = await w.user("tm-tagger");
      const org = await w.org(user);
      const [bound, other] = [await h.device(org.id, user.id), await h.device(org.id, user.id)];
      await h.bindSessions(user.id, bound);
      await batch(org.id, [...events(2), { type: "app.launch", deviceId: other }], user.as);
      const rows = await h.rows<{ device_id: string; user_id: string; n: number }>(
        sql`select device_id, user_id, count(*)::int as n from telemetry_events where organization_id = ${org.id} group by 1, 2 order by 3`,
      );
      expect(rows.map((r) => [r.device_id, r.user_id, Number(r.n)])).toEqual([
        [other, user.id, 1],
        [bound, user.id, 2],
      ]);
    });

    it("leaves events untagged when the session's device is of another organization", async () => {
      const user = await w.user("tm-tagger2");
      const [orgA, orgB] = [await w.org(user), await w.org(user)];
      await h.bindSessions(user.id, await h.device(orgA.id, user.id));
      await batch(orgB.id, events(1), user.as);
      expect(await h.rows(sql`select device_id from telemetry_events where organization_id = ${orgB.id}`)).toEqual([{ device_id: null }]);
    });

    it("refuses a device of another user, a revoked one, or an unknown one: PERMISSION_DENIED, nothing stored", async () => {
      const user = await w.user("tm-tagger3");
      const org = await w.org(user);
      await w.join(org.id, user, team.member, "member");
      const theirs = await h.device(org.id, team.member.id);
      const revoked = await h.device(org.id, user.id, { revoked: true });
      for (const deviceId of [theirs, revoked, "7a1f1b4e-0000-4000-8000-000000000000"]) {
        const err = await expectError(batch(org.id, [...events(3), { type: "app.launch", deviceId }], user.as), Code.PermissionDenied, "DEVICE_ACCESS_DENIED");
        expect(err.rawMessage).toContain("events[3].device_id");
      }
      expect(await h.stored(org.id)).toBe(0);
    });

    it("lets a service account name any live device of its organization", async () => {
      const org = await w.org(team.owner);
      const device = await h.device(org.id, team.member.id);
      const sa = await w.serviceAccount(team.owner.as, org.id, [ApiKeyScope.WRITE]);
      const { as } = await w.saToken(sa.sa.clientId, sa.secret);
      await batch(org.id, [{ type: "app.launch", deviceId: device }], as);
      expect(await h.rows(sql`select device_id from telemetry_events where organization_id = ${org.id}`)).toEqual([{ device_id: device }]);
    });
  });

  describe("posture", () => {
    it("updates the device with the newest report only, and tells every instance", async () => {
      const user = await w.user("tm-posture");
      const org = await w.org(user);
      const device = await h.device(org.id, user.id);
      // Heard here at once and again through LISTEN/NOTIFY: what matters is which devices, and whether anything was.
      const published = new Set<string>();
      w.t.app.hooks.bus.on("device", (id) => published.add(id));
      const heard = async () => {
        await new Promise((r) => setTimeout(r, 100));
        const ids = [...published];
        published.clear();
        return ids;
      };
      const now = w.t.clock.now().getTime();
      const [t1, t2, t3] = [new Date(now - 30 * MINUTE), new Date(now - 20 * MINUTE), new Date(now - 10 * MINUTE)];

      // Two reports in one batch: the later one wins whatever the order.
      await batch(org.id, [posture("macOS t2", t2, device), posture("macOS t1", t1, device)], user.as);
      expect(await h.devicePosture(device)).toEqual({ os: "macOS t2", at: t2.getTime(), seenAt: now });
      expect(await heard()).toEqual([device]);

      // An older report arriving late changes nothing (and publishes nothing).
      await batch(org.id, [posture("macOS t1", t1, device)], user.as);
      expect((await h.devicePosture(device)).os).toBe("macOS t2");
      expect(await heard()).toEqual([]);

      await batch(org.id, [posture("macOS t3", t3, device)], user.as);
      expect(await h.devicePosture(device)).toMatchObject({ os: "macOS t3", at: t3.getTime() });
      expect(await heard()).toEqual([device]);
      // Every event was stored, the stale report too.
      expect(await h.stored(org.id)).toBe(4);
    });

    it("takes a report dated ahead as of now: it cannot stay fresh longer nor shadow the next honest report", async () => {
      const user = await w.user("tm-future");
      const org = await w.org(user);
      const device = await h.device(org.id, user.id);
      const now = w.t.clock.now().getTime();
      await batch(org.id, [posture("forged", new Date(now + 12 * 60 * MINUTE), device)], user.as);
      expect(await h.devicePosture(device)).toMatchObject({ os: "forged", at: now });
      w.t.clock.advance(60);
      await batch(org.id, [posture("honest", new Date(now + 60_000), device)], user.as);
      expect((await h.devicePosture(device)).os).toBe("honest");
    });

    it("takes the session's bound device; with none, a posture event is refused", async () => {
      const user = await w.user("tm-posture2");
      const org = await w.org(user);
      const at = new Date(w.t.clock.now().getTime() - MINUTE);
      const err = await expectError(batch(org.id, [...events(2), posture("Linux", at)], user.as), Code.InvalidArgument, "TELEMETRY_EVENT_INVALID");
      expect(violatedFields(err)).toEqual(["events[2].device_id"]);
      const device = await h.device(org.id, user.id);
      await h.bindSessions(user.id, device);
      await batch(org.id, [posture("Linux", at)], user.as);
      expect(await h.devicePosture(device)).toMatchObject({ os: "Linux", at: at.getTime() });
    });
  });

  describe("GetSystemStats", () => {
    it("counts live devices and the events of the last hour", async () => {
      const admin = await w.admin();
      const stats = () => w.t.client(AdminService).getSystemStats({}, admin.as);
      const before = await stats();
      const org = await w.org(team.owner);
      await h.device(org.id, team.owner.id);
      await h.device(org.id, team.owner.id);
      await h.device(org.id, team.owner.id, { revoked: true });
      const now = w.t.clock.now().getTime();
      await batch(
        org.id,
        [...events(5, new Date(now - 30 * MINUTE)), ...events(3, new Date(now - 2 * 60 * MINUTE)), ...events(2, new Date(now + 10 * MINUTE))],
        team.owner.as,
      );
      const after = await stats();
      expect(after.devicesTotal - before.devicesTotal).toBe(2n);
      expect(after.telemetryEventsLastHour - before.telemetryEventsLastHour).toBe(5n);
      const [live] = await h.rows<{ n: number }>(sql`select count(*)::int as n from devices where revoked_at is null`);
      expect(after.devicesTotal).toBe(BigInt(live!.n));
    });
  });
});

describe("TelemetryService rate limit", () => {
  const w = useTenancyWorld({ telemetry_events_per_org_per_minute: 10 });
  const h = helpers(w);

  it("counts every event against the organization's per-minute budget; over it RESOURCE_EXHAUSTED with retry-after", async () => {
    const owner = await w.user("rl-owner");
    const [org, other] = [await w.org(owner), await w.org(owner)];
    const send = (orgId: string, n: number) => h.client().batchEmitTelemetry({ organizationId: orgId, events: events(n) }, owner.as);
    expect((await send(org.id, 6)).accepted).toBe(6);
    const f = await expectFailure(send(org.id, 6), Code.ResourceExhausted, "TELEMETRY_RATE_LIMITED");
    expect(f.retryAfter).toBeGreaterThan(0);
    expect(f.retryAfter).toBeLessThanOrEqual(60);
    expect(f.retryDelay).toBe(f.retryAfter);
    // The refused batch did not count: what is left of the budget still goes through, and no more.
    expect((await send(org.id, 4)).accepted).toBe(4);
    expect(reasonOf((await errorOf(send(org.id, 1)))!)).toBe("TELEMETRY_RATE_LIMITED");
    // Another organization has its own budget.
    expect((await send(other.id, 10)).accepted).toBe(10);
    expect(await h.stored(org.id)).toBe(10);
  });
});

const REDIS_URL = process.env.TEST_REDIS_URL || "redis://127.0.0.1:6379";
/** Whether a Redis answers there (the engine's shared counters need one; without it this block is skipped). */
async function redisAnswers(): Promise<boolean> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 500, enableOfflineQueue: false });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
const withRedis = await redisAnswers();

describe.runIf(withRedis)("TelemetryService rate limit in Redis, over two instances", () => {
  const settings = { ...TENANCY_SETTINGS, redis_url: REDIS_URL, telemetry_events_per_org_per_minute: 10 };
  let a: TestApp;
  let b: TestApp;
  const orgs: string[] = [];
  beforeAll(async () => {
    a = await createTestApp(settings);
    b = await createTestApp(settings, { sameDatabaseAs: a });
  });
  afterAll(async () => {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    if (orgs.length) await redis.del(...orgs.map((id) => `warden:quota-telemetry_org:${id}`));
    redis.disconnect();
    await b?.close();
    await a?.close();
  });

  it("shares one organization's budget between the instances", async () => {
    const w = new World(a);
    const owner = await w.user("redis-owner");
    const org = await w.org(owner);
    orgs.push(org.id);
    const send = (t: TestApp, n: number) => t.client(TelemetryService).batchEmitTelemetry({ organizationId: org.id, events: events(n) }, owner.as);
    expect((await send(a, 6)).accepted).toBe(6);
    await expectFailure(send(b, 6), Code.ResourceExhausted, "TELEMETRY_RATE_LIMITED");
    expect((await send(b, 4)).accepted).toBe(4);
    await expectFailure(send(a, 1), Code.ResourceExhausted, "TELEMETRY_RATE_LIMITED");
  });
});

describe("telemetry partitions", () => {
  const w = useTenancyWorld({});
  const h = helpers(w);

  it("are made daily from yesterday to three days ahead, idempotently", async () => {
    const now = w.t.clock.now();
    await h.maintenance(now);
    const again = await h.maintenance(now);
    expect(again.created).toEqual([]);
    const expected = [-1, 0, 1, 2, 3].map((d) => dayName(new Date(now.getTime() + d * DAY)));
    const parts = await h.partitions();
    expect(parts).toEqual(expect.arrayContaining([...expected, "telemetry_events_default"]));
    // Two instances at once: the same partitions, no error.
    const later = new Date(now.getTime() + 2 * DAY);
    const [a, b] = await Promise.all([h.maintenance(later), h.maintenance(later)]);
    expect([...a.created, ...b.created].sort()).toEqual([4, 5].map((d) => dayName(new Date(now.getTime() + d * DAY))).sort());
  });

  it("drop whole days past retention, delete old default-partition rows, and never claim a range the default partition holds", async () => {
    const now = w.t.clock.now();
    const owner = await w.user("part-owner");
    const org = await w.org(owner);
    await h.maintenance(now);
    await h.client().batchEmitTelemetry({ organizationId: org.id, events: events(7) }, owner.as);
    // Rows straight into the table: 10 days ago (no partition: the default one) and 8 days ahead (likewise).
    const insert = (at: Date) =>
      h.rows(
        sql`insert into telemetry_events (occurred_at, received_at, organization_id, type) values (${at.toISOString()}::timestamptz, now(), ${org.id}, 'old')`,
      );
    const old = new Date(now.getTime() - 10 * DAY);
    const ahead = new Date(now.getTime() + 8 * DAY);
    await insert(old);
    await insert(ahead);
    const where = async (at: Date) =>
      (
        await h.rows<{ part: string }>(sql`select tableoid::regclass::text as part from telemetry_events where occurred_at = ${at.toISOString()}::timestamptz`)
      )[0]?.part;
    expect([await where(old), await where(ahead)]).toEqual(["telemetry_events_default", "telemetry_events_default"]);

    // Six days on, the pass would make partitions through day 9: day 8's rows are in the default one, so it is skipped.
    const sixDaysOn = await h.maintenance(new Date(now.getTime() + 6 * DAY));
    expect(sixDaysOn.skipped).toEqual([dayName(ahead)]);
    expect(sixDaysOn.created).toContain(dayName(new Date(now.getTime() + 9 * DAY)));
    expect(await h.partitions()).not.toContain(dayName(ahead));
    expect(await where(ahead)).toBe("telemetry_events_default");

    // Retention of 5 days, 5 days and a bit on: today's partition ends more than 5 days before.
    const today = dayName(now);
    expect(await h.partitions()).toContain(today);
    const r = await h.maintenance(new Date(now.getTime() + 6 * DAY), 5);
    expect(r.dropped).toContain(today);
    expect(r.dropped).toContain(dayName(new Date(now.getTime() - DAY)));
    expect(r.defaultRowsDeleted).toBe(1);
    const parts = await h.partitions();
    expect(parts).not.toContain(today);
    expect(parts).toContain(dayName(new Date(now.getTime() + 2 * DAY)));
    expect(await h.stored(org.id)).toBe(1);
    expect(await where(ahead)).toBe("telemetry_events_default");
    expect(await where(old)).toBeUndefined();
  });
});
