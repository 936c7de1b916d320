import { Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { AuditService } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { chainHash } from "../../src/domain/audit/audit-event.js";
import { adminLogin, login, newUser } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { createTestApp } from "../helpers/test-app.js";
import type { TestApp } from "../helpers/test-app.js";

const execute = (t: TestApp, query: ReturnType<typeof sql>) => t.app.hooks.db.execute(query);

interface Tamper {
  name: string;
  /** Changes the table as a DBA could; returns the sequence the verifier must report. */
  apply(t: TestApp, sequences: number[]): Promise<number>;
  problem: RegExp;
}

const middleOf = (seqs: number[]) => seqs[Math.floor(seqs.length / 2)]!;
const after = (seqs: number[], seq: number) => seqs[seqs.indexOf(seq) + 1]!;

const TAMPERS: Tamper[] = [
  {
    name: "an edited middle row",
    async apply(t, seqs) {
      await execute(t, sql`update audit_events set outcome = 'success', details = '{"reason":"nothing to see"}'::jsonb where sequence = ${middleOf(seqs)}`);
      return middleOf(seqs);
    },
    problem: /edited/,
  },
  {
    name: "an edited middle row whose own hash was recomputed",
    async apply(t, seqs) {
      const target = middleOf(seqs);
      const [row] = await t.app.hooks.store.audit.batchAfter(target - 1, 1);
      const forged = { ...row!, actorId: "someone-else" };
      await execute(t, sql`update audit_events set actor_id = ${forged.actorId}, hash = ${chainHash(forged)} where sequence = ${target}`);
      return after(seqs, target);
    },
    problem: /previous-link/,
  },
  {
    name: "a deleted middle row",
    async apply(t, seqs) {
      await execute(t, sql`delete from audit_events where sequence = ${middleOf(seqs)}`);
      return after(seqs, middleOf(seqs));
    },
    problem: /removed/,
  },
  {
    name: "a deleted last row",
    async apply(t, seqs) {
      const last = seqs[seqs.length - 1]!;
      await execute(t, sql`delete from audit_events where sequence = ${last}`);
      return last;
    },
    problem: /end|head/,
  },
];

/** Each case on an app of its own: a few events, then the triggers disabled as a DBA could. */
describe("VerifyAuditChain finds tampering by someone who can bypass the triggers", () => {
  it.each(TAMPERS)("reports $name", async ({ apply, problem }) => {
    const t = await createTestApp();
    try {
      const admin = await adminLogin(t);
      for (let i = 0; i < 2; i++) await newUser(t, { tag: "history" });
      await expectError(login(t, admin.email, "Wrong-password-0123"), Code.Unauthenticated);
      const sequences = (await t.app.hooks.store.audit.batchAfter(0, 1000)).map((r) => r.sequence);
      expect(sequences.length).toBeGreaterThanOrEqual(6);
      const verify = () => t.client(AuditService).verifyAuditChain({}, admin.auth);
      await expect(verify()).resolves.toMatchObject({ intact: true });

      await execute(t, sql`alter table audit_events disable trigger user`);
      const expected = await apply(t, sequences);
      const r = await verify();
      expect(r.intact).toBe(false);
      expect(r.firstBrokenSequence).toBe(BigInt(expected));
      expect(r.problem).toMatch(problem);
    } finally {
      await t.close();
    }
  });
});
