import { randomUUID } from "node:crypto";
import { AuditChainKeys } from "../../../../src/crypto/audit-chain-keys.js";
import { contentHash, linkMessage, storedFields, type AuditEntry } from "../../../../src/domain/audit/audit-event.js";
import type { AuditRow } from "../../../../src/domain/records.js";
import type { AuditArchive, AuditCheckpoint, AuditQuery, AuditStore } from "../../../../src/domain/store/audit-store.js";
import { copy, type Rows } from "./tables.js";

/** The fakes' audit chain keys (the repository's come from the master key); new links use v1. */
export const TEST_CHAIN_KEYS = new AuditChainKeys("unit-test master key 0123456789abcdef", 1);

/** appendStatement in memory: the next keyed link of the chain, and the head moved to it. */
export function appendAudit(rows: Rows, entry: AuditEntry, occurredAt: Date): void {
  const fields = storedFields(entry, occurredAt);
  const { keyId } = TEST_CHAIN_KEYS.current;
  rows.statement((r) => {
    const head = r.tables.auditHead.get(1)!;
    const sequence = head.sequence + 1;
    const hash = TEST_CHAIN_KEYS.link(keyId, linkMessage(head.hash, sequence, contentHash(fields)))!;
    r.insert(r.tables.auditEvents, sequence, { sequence, id: randomUUID(), ...fields, prevHash: head.hash, hash, keyId }, "audit_events_pkey");
    r.update(r.tables.auditHead, 1, { sequence, hash });
  });
}

/** AuditRepository in memory: an append-only, keyed chain, and its checkpoints. */
export class MemoryAuditStore implements AuditStore {
  constructor(private readonly rows: Rows) {}

  private all(): AuditRow[] {
    return [...this.rows.tables.auditEvents.values()].sort((a, b) => a.sequence - b.sequence);
  }

  async append(entry: AuditEntry, occurredAt: Date): Promise<void> {
    appendAudit(this.rows, entry, occurredAt);
  }

  async appendMany(items: readonly { entry: AuditEntry; occurredAt: Date }[]): Promise<void> {
    for (const { entry, occurredAt } of items) appendAudit(this.rows, entry, occurredAt);
  }

  async listNewestFirst(limit: number, beforeSequence?: number): Promise<AuditRow[]> {
    return this.all()
      .filter((e) => !beforeSequence || e.sequence < beforeSequence)
      .reverse()
      .slice(0, limit)
      .map(copy);
  }

  async query(q: AuditQuery): Promise<AuditRow[]> {
    return this.all()
      .filter(
        (e) =>
          (!q.start || e.occurredAt >= q.start) &&
          (!q.end || e.occurredAt <= q.end) &&
          (!q.eventTypes?.length || q.eventTypes.includes(e.eventType)) &&
          (!q.actorId || e.actorId === q.actorId) &&
          (!q.targetId || e.targetId === q.targetId) &&
          (!q.userId || e.actorId === q.userId || e.targetId === q.userId) &&
          (!q.nodeId || e.actorId === q.nodeId || e.targetId === q.nodeId) &&
          (!q.outcome || e.outcome === q.outcome) &&
          (!q.afterSequence || e.sequence > q.afterSequence),
      )
      .slice(0, q.limit)
      .map(copy);
  }

  async batchAfter(afterSequence: number, limit: number): Promise<AuditRow[]> {
    return this.all()
      .filter((e) => e.sequence > afterSequence)
      .slice(0, limit)
      .map(copy);
  }

  async head(): Promise<{ sequence: number; hash: string } | undefined> {
    const h = this.rows.tables.auditHead.get(1);
    return h && copy(h);
  }

  async count(): Promise<number> {
    return this.rows.tables.auditEvents.size;
  }

  async insertCheckpoint(c: AuditCheckpoint): Promise<void> {
    this.rows.insert(this.rows.tables.auditCheckpoints, c.number, copy(c), "audit_checkpoints_pkey");
  }

  async checkpointsAfter(afterNumber: number, limit: number): Promise<AuditCheckpoint[]> {
    return this.checkpoints()
      .filter((c) => c.number > afterNumber)
      .slice(0, limit)
      .map(copy);
  }

  async checkpointsNewestFirst(limit: number, beforeNumber?: number): Promise<AuditCheckpoint[]> {
    return this.checkpoints()
      .filter((c) => !beforeNumber || c.number < beforeNumber)
      .reverse()
      .slice(0, limit)
      .map(copy);
  }

  /** pg_advisory_xact_lock: held to the end of the transaction. */
  async lockCheckpoints(): Promise<void> {
    await this.rows.lock("audit_checkpoints");
  }

  // Archiving deletes rows past the append-only trigger: tests/integration/audit-archive.test.ts
  // runs it on PGlite and PostgreSQL. In memory there is never an archive.
  async newestArchive(): Promise<AuditArchive | undefined> {
    return undefined;
  }
  async archiveByHead(): Promise<AuditArchive | undefined> {
    return undefined;
  }
  async archiveByNumber(): Promise<AuditArchive | undefined> {
    return undefined;
  }
  async firstBefore(before: Date, afterSequence: number): Promise<number | undefined> {
    return this.all().find((e) => e.sequence > afterSequence && e.occurredAt < before)?.sequence;
  }
  async checkpointsWithin(afterSequence: number, throughSequence: number): Promise<AuditCheckpoint[]> {
    return this.checkpoints()
      .filter((c) => c.sequence > afterSequence && c.sequence <= throughSequence)
      .map(copy);
  }
  async lockHead(): Promise<void> {
    await this.rows.lock("audit_chain_head");
  }
  async deleteArchived(): Promise<{ sequence: number; hash: string }[]> {
    throw new Error("the in-memory audit store does not archive");
  }
  async insertArchive(): Promise<void> {
    throw new Error("the in-memory audit store does not archive");
  }

  private checkpoints(): AuditCheckpoint[] {
    return [...this.rows.tables.auditCheckpoints.values()].sort((a, b) => a.number - b.number);
  }
}
