import { Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { AuditService, ChainCheck } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { chainHash } from "../../src/domain/audit/audit-event.js";
import { adminLogin, login, newUser } from "../helpers/accounts.js";
import { auditRows, disableTriggers, execute } from "../helpers/audit-attack.js";
import { expectError } from "../helpers/expect-error.js";
import { createTestApp } from "../helpers/test-app.js";
import type { TestApp } from "../helpers/test-app.js";

interface Tamper {
  name: string;
  /** Changes the table as a DBA could; returns the sequence the verifier must report. */
  apply(t: TestApp, sequences: number[]): Promise<number>;
  check: ChainCheck;
  problem: RegExp;
}

const middleOf = (seqs: number[]) => seqs[Math.floor(seqs.length / 2)]!;
const after = (seqs: number[], seq: number) => seqs[seqs.indexOf(seq) + 1]!;

// Whole-chain rewrites, renumbering and checkpoints: tests/security/audit-rewrite.test.ts.
const TAMPERS: Tamper[] = [
  {
    name: "an edited middle row",
    async apply(t, seqs) {
      await execute(t, sql`update audit_events set outcome = 'success', details = '{"reason":"nothing to see"}'::jsonb where sequence = ${middleOf(seqs)}`);
      return middleOf(seqs);
    },
    check: ChainCheck.KEY,
    problem: /edited/,
  },
  {
    name: "an edited middle row whose own hash was recomputed (plain SHA-256: no key)",
    async apply(t, seqs) {
      const target = middleOf(seqs);
      const [row] = await t.app.hooks.store.audit.batchAfter(target - 1, 1);
      const forged = { ...row!, actorId: "someone-else" };
      await execute(t, sql`update audit_events set actor_id = ${forged.actorId}, hash = ${chainHash(forged)} where sequence = ${target}`);
      return target;
    },
    check: ChainCheck.KEY,
    problem: /without the key/,
  },
  {
    name: "an edited middle row recomputed and marked as an unkeyed legacy link",
    async apply(t, seqs) {
      const target = middleOf(seqs);
      const [row] = await t.app.hooks.store.audit.batchAfter(target - 1, 1);
      const forged = { ...row!, actorId: "someone-else" };
      await execute(t, sql`update audit_events set actor_id = ${forged.actorId}, hash = ${chainHash(forged)}, key_id = 'legacy' where sequence = ${target}`);
      return target;
    },
    check: ChainCheck.KEY,
    problem: /legacy/,
  },
  {
    name: "a row naming a chain key that does not exist",
    async apply(t, seqs) {
      await execute(t, sql`update audit_events set key_id = 'attacker' where sequence = ${middleOf(seqs)}`);
      return middleOf(seqs);
    },
    check: ChainCheck.KEY,
    problem: /unknown chain key/,
  },
  {
    name: "a deleted middle row",
    async apply(t, seqs) {
      await execute(t, sql`delete from audit_events where sequence = ${middleOf(seqs)}`);
      return after(seqs, middleOf(seqs));
    },
    check: ChainCheck.SEQUENCE_GAP,
    problem: /removed/,
  },
  {
    name: "a deleted last row",
    async apply(t, seqs) {
      const last = seqs[seqs.length - 1]!;
      await execute(t, sql`delete from audit_events where sequence = ${last}`);
      return last;
    },
    check: ChainCheck.HEAD,
    problem: /end|head/,
  },
];

/** Each case on an app of its own: a few events, then the triggers disabled as a DBA could. */
describe("VerifyAuditChain finds tampering by someone who can bypass the triggers", () => {
  it.each(TAMPERS)("reports $name", async ({ apply, check, problem }) => {
    const t = await createTestApp();
    try {
      const admin = await adminLogin(t);
      for (let i = 0; i < 2; i++) await newUser(t, { tag: "history" });
      await expectError(login(t, admin.email, "Wrong-password-0123"), Code.Unauthenticated);
      const sequences = (await auditRows(t)).map((r) => r.sequence);
      expect(sequences.length).toBeGreaterThanOrEqual(6);
      const verify = () => t.client(AuditService).verifyAuditChain({}, admin.auth);
      await expect(verify()).resolves.toMatchObject({ intact: true, failedCheck: ChainCheck.UNSPECIFIED });

      await disableTriggers(t);
      const expected = await apply(t, sequences);
      const r = await verify();
      expect(r).toMatchObject({ intact: false, firstBrokenSequence: BigInt(expected), failedCheck: check });
      expect(r.problem).toMatch(problem);
    } finally {
      await t.close();
    }
  });
});
