import { randomUUID } from "node:crypto";
import { contentHash, linkHash, type AuditEntry } from "../../../../src/domain/audit/audit-event.js";
import type { AuditRow } from "../../../../src/domain/records.js";
import type { AuditQuery, AuditStore } from "../../../../src/domain/store/audit-store.js";
import { copy, type Rows } from "./tables.js";

/** appendStatement in memory: the next link of the hash chain, and the head moved to it. */
export function appendAudit(rows: Rows, entry: AuditEntry, occurredAt: Date): void {
  const fields = {
    occurredAt,
    eventType: entry.eventType,
    outcome: entry.outcome,
    actorType: entry.actorType,
    actorId: entry.actorId,
    targetType: entry.targetType ?? "",
    targetId: entry.targetId ?? "",
    clientIp: entry.clientIp ?? "",
    requestId: entry.requestId ?? "",
    details: entry.details ?? {},
  };
  rows.statement((r) => {
    const head = r.tables.auditHead.get(1)!;
    const sequence = head.sequence + 1;
    const hash = linkHash(head.hash, sequence, contentHash(fields));
    r.insert(r.tables.auditEvents, sequence, { sequence, id: randomUUID(), ...fields, prevHash: head.hash, hash }, "audit_events_pkey");
    r.update(r.tables.auditHead, 1, { sequence, hash });
  });
}

/** AuditRepository in memory: an append-only, hash-chained list. */
export class MemoryAuditStore implements AuditStore {
  constructor(private readonly rows: Rows) {}

  private all(): AuditRow[] {
    return [...this.rows.tables.auditEvents.values()].sort((a, b) => a.sequence - b.sequence);
  }

  async append(entry: AuditEntry, occurredAt: Date): Promise<void> {
    appendAudit(this.rows, entry, occurredAt);
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
}
