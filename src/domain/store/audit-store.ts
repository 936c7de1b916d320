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

/** A signed checkpoint of the chain head, as stored; `jws` is what vouches, the rest repeats it. */
export interface AuditCheckpoint {
  /** 1, 2, 3, ...: a missing number means a checkpoint was removed. */
  number: number;
  sequence: number;
  hash: string;
  kid: string;
  signedAt: Date;
  jws: string;
}

export interface AuditStore {
  /** Appends one link of the chain; inside a transaction, it commits with the change it records. */
  append(entry: AuditEntry, occurredAt: Date): Promise<void>;
  /** Appends several links in this order; each run of up to 256 links is one statement, all or nothing. */
  appendMany(items: readonly { entry: AuditEntry; occurredAt: Date }[]): Promise<void>;
  listNewestFirst(limit: number, beforeSequence?: number): Promise<AuditRow[]>;
  query(q: AuditQuery): Promise<AuditRow[]>;
  batchAfter(afterSequence: number, limit: number): Promise<AuditRow[]>;
  /** The newest link as the head row records it. */
  head(): Promise<{ sequence: number; hash: string } | undefined>;
  count(): Promise<number>;

  insertCheckpoint(c: AuditCheckpoint): Promise<void>;
  /** Checkpoints numbered after `afterNumber`, in number order. */
  checkpointsAfter(afterNumber: number, limit: number): Promise<AuditCheckpoint[]>;
  /** Newest first, numbered before `beforeNumber` when given. */
  checkpointsNewestFirst(limit: number, beforeNumber?: number): Promise<AuditCheckpoint[]>;
  /** Serializes checkpoint writers (between instances too) for the rest of the transaction. */
  lockCheckpoints(): Promise<void>;
}
