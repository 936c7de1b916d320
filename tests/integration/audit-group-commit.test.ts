import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AuditService } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { GroupCommittedAuditRepository } from "../../src/db/audit-group-commit.js";
import { rowsOf } from "../../src/db/rows.js";
import type { AuditEntry } from "../../src/domain/audit/audit-event.js";
import { adminLogin, type SignedIn } from "../helpers/accounts.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

/** Appends made outside transactions while another is in flight share one statement and one commit. */
describe("audit group commit", () => {
  let t: TestApp;
  let admin: SignedIn;
  let audit: GroupCommittedAuditRepository;
  const entry = (actorId: string, i: number, details: Record<string, string> = {}): AuditEntry => ({
    eventType: "auth.login",
    outcome: "failure",
    actorType: "user",
    actorId,
    details: { attempt: String(i), ...details },
  });
  const linksOf = async (actorId: string) =>
    rowsOf<{ sequence: number | string; prev_hash: string; hash: string; attempt: string }>(
      await t.app.hooks.db.execute(
        sql`select sequence, prev_hash, hash, details->>'attempt' as attempt from audit_events where actor_id = ${actorId} order by sequence`,
      ),
    );

  beforeAll(async () => {
    t = await createTestApp();
    admin = await adminLogin(t);
    expect(t.app.hooks.store.audit).toBeInstanceOf(GroupCommittedAuditRepository);
    audit = t.app.hooks.store.audit as GroupCommittedAuditRepository;
  });
  afterAll(async () => t?.close());

  it("links 200 concurrent appends in a few statements, each once, in an intact chain", async () => {
    const actor = uniqueEmail("group");
    const many = vi.spyOn(audit, "appendMany");
    try {
      await Promise.all(Array.from({ length: 200 }, (_, i) => audit.append(entry(actor, i), new Date())));
      // The first goes alone; the other 199 waited for it and went together (at most 256 a statement).
      expect(many.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(many.mock.calls.length).toBeLessThan(10);
      expect(many.mock.calls.reduce((n, [items]) => n + items.length, 0)).toBeGreaterThan(150);
    } finally {
      many.mockRestore();
    }
    const rows = await linksOf(actor);
    expect(rows).toHaveLength(200);
    expect(new Set(rows.map((r) => r.attempt)).size).toBe(200);
    const sequences = rows.map((r) => Number(r.sequence));
    expect(sequences).toEqual(Array.from({ length: 200 }, (_, i) => sequences[0]! + i));
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
    await expect(t.client(AuditService).verifyAuditChain({}, admin.auth)).resolves.toMatchObject({ intact: true });
  });

  it("fails only the append the database refuses; the rest of its batch commits", async () => {
    const actor = uniqueEmail("group-nul");
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => audit.append(entry(actor, i, i === 7 ? { note: "nul\u0000byte" } : {}), new Date())),
    );
    expect(results.filter((r) => r.status === "rejected")).toHaveLength(1);
    expect(results[7]!.status).toBe("rejected");
    const rows = await linksOf(actor);
    expect(rows.map((r) => r.attempt).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 20 }, (_, i) => String(i)).filter((a) => a !== "7"));
    await expect(t.client(AuditService).verifyAuditChain({}, admin.auth)).resolves.toMatchObject({ intact: true });
  });

  it("settles a caller only after its own link is readable", async () => {
    const actor = uniqueEmail("group-read");
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        await audit.append(entry(actor, i), new Date());
        const seen = await t.app.hooks.db.execute(sql`select 1 from audit_events where actor_id = ${actor} and details->>'attempt' = ${String(i)}`);
        expect(rowsOf(seen)).toHaveLength(1);
      }),
    );
  });
});
