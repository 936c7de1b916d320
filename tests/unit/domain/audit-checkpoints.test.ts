import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/clock.js";
import type { CheckpointCheck, CheckpointClaims } from "../../../src/crypto/checkpoint-signer.js";
import { AuditCheckpoints } from "../../../src/domain/audit/audit-checkpoints.js";
import { contentHash, linkMessage, type AuditEntry } from "../../../src/domain/audit/audit-event.js";
import { AuditLog } from "../../../src/domain/audit/audit-log.js";
import { ChainVerifier } from "../../../src/domain/audit/chain-verifier.js";
import { TEST_CHAIN_KEYS } from "./fakes/audit-store.js";
import { expectDomainError } from "./fakes/domain-error.js";
import { MemoryStore } from "./fakes/memory-store.js";
import { START } from "./fakes/world.js";

/** A stand-in for the JWS signer: the "signature" is the claims as JSON, checked by reading them back. */
const signer = {
  sign: async (claims: CheckpointClaims) => ({ jws: JSON.stringify(claims), kid: "test-kid" }),
  checker:
    async () =>
    async (jws: string): Promise<CheckpointCheck> => ({ claims: JSON.parse(jws) as CheckpointClaims, kid: "test-kid" }),
};

const event: AuditEntry = { eventType: "auth.login", outcome: "success", actorType: "user", actorId: "u" };
const HOUR = 3600;

function world() {
  const store = new MemoryStore();
  const clock = new ManualClock(START);
  const logged: unknown[] = [];
  const checkpoints = new AuditCheckpoints({ store, clock, signer, log: { info: (obj: unknown) => void logged.push(obj) } as never });
  const log = new AuditLog(store, clock);
  const verifier = new ChainVerifier({ store, keys: TEST_CHAIN_KEYS, signer });
  const record = async (n = 1) => {
    for (let i = 0; i < n; i++) await log.recordAlone(event);
  };
  return { store, clock, checkpoints, verifier, record, logged };
}

describe("audit checkpoints", () => {
  it("sign the head when it has moved and the newest checkpoint is old enough, numbered 1, 2, 3", async () => {
    const w = world();
    expect(await w.checkpoints.createIfDue(0)).toBeUndefined(); // an empty chain: nothing to vouch for
    await w.record(3);
    const first = await w.checkpoints.createIfDue(0);
    expect(first).toMatchObject({ number: 1, sequence: 3, hash: w.store.tables.auditHead.get(1)!.hash, kid: "test-kid", signedAt: START });
    expect(await w.checkpoints.createIfDue(0)).toBeUndefined(); // the head has not moved

    await w.record();
    expect(await w.checkpoints.createIfDue(HOUR)).toBeUndefined(); // moved, but the newest is too young
    w.clock.advance(HOUR);
    expect(await w.checkpoints.createIfDue(HOUR)).toMatchObject({ number: 2, sequence: 4 });
    expect(w.logged).toHaveLength(2);
  });

  it("are not held back by a newest checkpoint whose signing time was moved into the future", async () => {
    const w = world();
    await w.record();
    const first = (await w.checkpoints.createNow())!;
    w.store.tables.auditCheckpoints.set(1, { ...first, signedAt: new Date("2999-01-01T00:00:00Z") });
    await w.record();
    expect(await w.checkpoints.createIfDue(HOUR)).toMatchObject({ number: 2, sequence: 2 });
    // ... and the verifier notices the edited column.
    expect(await w.verifier.verify()).toMatchObject({ intact: false, failedCheck: "checkpoint", problem: expect.stringMatching(/#1: the stored row differs/) });
  });

  it("made on request answer the newest one while the head has not moved", async () => {
    const w = world();
    await w.record(2);
    const made = await w.checkpoints.createNow();
    expect(await w.checkpoints.createNow()).toEqual(made);
    expect(await w.checkpoints.newest()).toEqual(made);
    expect(w.store.tables.auditCheckpoints.size).toBe(1);
  });

  it("are never numbered twice by concurrent writers (the checkpoint lock)", async () => {
    const w = world();
    await w.record(2);
    const both = await Promise.all([w.checkpoints.createNow(), w.checkpoints.createNow()]);
    expect(both.map((c) => c.number)).toEqual([1, 1]);
    expect(w.store.tables.auditCheckpoints.size).toBe(1);
  });

  it("list newest first in pages; before the first one, newest() is NOT_FOUND", async () => {
    const w = world();
    await expectDomainError(w.checkpoints.newest(), "not_found", "AUDIT_CHECKPOINT_NOT_FOUND");
    for (let i = 0; i < 3; i++) {
      await w.record();
      await w.checkpoints.createNow();
    }
    const first = await w.checkpoints.list({ pageSize: 2, pageToken: "" });
    const second = await w.checkpoints.list({ pageSize: 2, pageToken: first.nextPageToken });
    expect([...first.items, ...second.items].map((c) => c.number)).toEqual([3, 2, 1]);
    expect(second.nextPageToken).toBe("");
  });

  it("are checked by the verifier: an edited event they cover breaks the chain at the checkpoint", async () => {
    const w = world();
    await w.record(3);
    await w.checkpoints.createNow();
    await w.record();
    expect(await w.verifier.verify()).toMatchObject({ intact: true, checked: 4, checkedCheckpoints: 1 });

    // Event 3 edited and events 3 and 4 re-linked with the chain key itself: every HMAC holds.
    const relink = (sequence: number, prevHash: string, change: object = {}) => {
      const row = { ...w.store.tables.auditEvents.get(sequence)!, ...change, prevHash };
      const hash = TEST_CHAIN_KEYS.link("v1", linkMessage(prevHash, sequence, contentHash(row)))!;
      w.store.tables.auditEvents.set(sequence, { ...row, hash });
      return hash;
    };
    const head = relink(4, relink(3, w.store.tables.auditEvents.get(2)!.hash, { outcome: "failure" }));
    w.store.tables.auditHead.set(1, { sequence: 4, hash: head });
    expect(await w.verifier.verify()).toMatchObject({ intact: false, failedCheck: "checkpoint", firstBrokenSequence: 3 });
  });
});
