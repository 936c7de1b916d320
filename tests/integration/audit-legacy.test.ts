import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditService, ChainCheck } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { openDatabase } from "../../src/db/client.js";
import { contentHash, storedFields, type AuditEntry } from "../../src/domain/audit/audit-event.js";
import { adminLogin, newUser, type SignedIn } from "../helpers/accounts.js";
import { auditRows, LEGACY_SHA256, rewriteChain } from "../helpers/audit-attack.js";
import { createScratchDatabase, openScratchDatabase, TEST_PG_URL, type TestDatabase } from "../helpers/database.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

/** The last migration before the chain was keyed: the log an existing installation upgrades from. */
const BEFORE_KEYED = 8;

/** The migrations folder as it was up to `last`. */
function migrationsUpTo(last: number): string {
  const source = fileURLToPath(new URL("../../drizzle", import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), "warden-migrations-"));
  cpSync(source, dir, { recursive: true });
  const journalFile = join(dir, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalFile, "utf8"));
  journal.entries = journal.entries.filter((e: { idx: number }) => e.idx <= last);
  writeFileSync(journalFile, JSON.stringify(journal));
  return dir;
}

/** The append statement before the chain was keyed (plain SHA-256 links, no key id). */
function legacyAppend(entry: AuditEntry, occurredAt: Date) {
  const f = storedFields(entry, occurredAt);
  return sql`
    with old as (select sequence, hash from audit_chain_head where id = 1 for update),
    head as (
      update audit_chain_head h
         set sequence = old.sequence + 1,
             hash = encode(sha256(convert_to(old.hash || ':' || (old.sequence + 1)::text || ':' || ${contentHash(f)}, 'UTF8')), 'hex')
        from old where h.id = 1
      returning h.sequence, h.hash, old.hash as prev_hash
    )
    insert into audit_events (sequence, occurred_at, event_type, outcome, actor_type, actor_id, target_type, target_id, client_ip, request_id, details, prev_hash, hash)
    select head.sequence, ${occurredAt.toISOString()}::timestamptz, ${f.eventType}, ${f.outcome}, ${f.actorType}, ${f.actorId},
           ${f.targetType}, ${f.targetId}, ${f.clientIp}, ${f.requestId}, ${JSON.stringify(f.details)}::jsonb, head.prev_hash, head.hash
      from head`;
}

const LEGACY_EVENTS: AuditEntry[] = [
  { eventType: "auth.register", outcome: "success", actorType: "user", actorId: "old-user", clientIp: "192.0.2.7" },
  { eventType: "auth.login", outcome: "failure", actorType: "user", actorId: "old-user", details: { reason: "bad_credentials" } },
  { eventType: "auth.login", outcome: "success", actorType: "user", actorId: "old-user", requestId: "req-1" },
  { eventType: "session.revoke", outcome: "success", actorType: "user", actorId: "old-user", targetType: "session", targetId: "s-1" },
];

/** A database migrated up to BEFORE_KEYED, holding events the old version appended; the app migrates the rest. */
async function legacyDatabase(): Promise<TestDatabase> {
  const folder = migrationsUpTo(BEFORE_KEYED);
  const at = new Date("2029-06-01T12:00:00Z");
  try {
    if (!TEST_PG_URL) {
      const client = await PGlite.create();
      const db = drizzlePglite(client);
      await migratePglite(db, { migrationsFolder: folder });
      for (const [i, e] of LEGACY_EVENTS.entries()) await db.execute(legacyAppend(e, new Date(at.getTime() + i * 1000)));
      const image = await client.dumpDataDir("none");
      await client.close();
      const database = await openDatabase({ pgliteImage: image });
      return { database, cleanup: () => database.close() };
    }
    const url = await createScratchDatabase();
    const client = postgres(url, { max: 1, onnotice: () => {} });
    const db = drizzlePostgres(client);
    await migratePostgres(db, { migrationsFolder: folder });
    for (const [i, e] of LEGACY_EVENTS.entries()) await db.execute(legacyAppend(e, new Date(at.getTime() + i * 1000)));
    await client.end();
    return await openScratchDatabase(url);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

describe("audit history written before the chain was keyed (migration 0009)", () => {
  let t: TestApp;
  let admin: SignedIn;
  const verify = () => t.client(AuditService).verifyAuditChain({}, admin.auth);

  beforeAll(async () => {
    t = await createTestApp({}, { database: await legacyDatabase() });
    admin = await adminLogin(t);
    await newUser(t, { tag: "after-upgrade" });
  });
  afterAll(async () => t?.close());

  it("keeps its plain SHA-256 links, marked legacy; every later link is keyed", async () => {
    const rows = await auditRows(t);
    const legacy = LEGACY_EVENTS.length;
    expect(rows.slice(0, legacy).map((r) => [r.sequence, r.keyId, r.actorId])).toEqual(LEGACY_EVENTS.map((e, i) => [i + 1, "legacy", e.actorId]));
    expect(rows.slice(legacy).every((r) => r.keyId === "v1")).toBe(true);
    expect(rows.length).toBeGreaterThan(legacy + 2);
  });

  it("verifies: legacy links the old way, then keyed ones and the checkpoints", async () => {
    const rows = await auditRows(t);
    const r = await verify();
    expect(r).toMatchObject({ intact: true, checkedEvents: BigInt(rows.length), failedCheck: ChainCheck.UNSPECIFIED });
    expect(r.checkedCheckpoints).toBeGreaterThanOrEqual(1n);
  });

  it("cannot be rewritten without the key: the first keyed link covers the last legacy hash", async () => {
    const rows = await auditRows(t);
    const firstKeyed = rows.find((r) => r.keyId !== "legacy")!;
    const forged = rows.map((r) => (r.sequence === 2 ? { ...r, outcome: "success", details: {} } : r));
    // Legacy links are plain SHA-256, so anyone can re-link them; the keyed link after them is another matter.
    await rewriteChain(t, forged, LEGACY_SHA256, 1, firstKeyed.sequence - 1);
    const r = await verify();
    expect(r).toMatchObject({ intact: false, failedCheck: ChainCheck.LINK, firstBrokenSequence: BigInt(firstKeyed.sequence) });
  });
});
