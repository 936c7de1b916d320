import type { AuditEntry } from "../audit/audit-event.js";
import type { AuditRow } from "../records.js";

export interface AuditQuery {
  start?: Date;
  end?: Date;
  eventTypes?: string[];
  actorId?: string;
  targetId?: string;
  outcome?: string;
  afterSequence?: number;
  limit: number;
}

export interface AuditStore {
  /** Appends one link of the chain; inside a transaction, it commits with the change it records. */
  append(entry: AuditEntry, occurredAt: Date): Promise<void>;
  listNewestFirst(limit: number, beforeSequence?: number): Promise<AuditRow[]>;
  query(q: AuditQuery): Promise<AuditRow[]>;
  batchAfter(afterSequence: number, limit: number): Promise<AuditRow[]>;
  /** The newest link as the head row records it. */
  head(): Promise<{ sequence: number; hash: string } | undefined>;
  count(): Promise<number>;
}
