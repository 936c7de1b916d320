import type { AuditEntry } from "../audit/audit-event.js";
import type { AuditRow } from "../records.js";

export interface AuditQuery {
  start?: Date;
  end?: Date;
  eventTypes?: string[];
  actorId?: string;
  targetId?: string;
  /** The actor or the target. */
  userId?: string;
  /** The actor or the target (a node emits as actor, admins' node events name it as target). */
  nodeId?: string;
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

/** An archived prefix of the chain, as stored; the live chain continues from its head. */
export interface AuditArchive {
  /** 1, 2, 3, ... */
  number: number;
  firstSequence: number;
  headSequence: number;
  headHash: string;
  headKeyId: string;
  eventCount: number;
  /** Hex SHA-256 of the archive file. */
  sha256: string;
  archivedAt: Date;
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

  /** The newest archive: the live chain starts after its head. */
  newestArchive(): Promise<AuditArchive | undefined>;
  /** The archive whose head is this sequence. */
  archiveByHead(headSequence: number): Promise<AuditArchive | undefined>;
  archiveByNumber(number: number): Promise<AuditArchive | undefined>;
  /** The lowest sequence after `afterSequence` whose time is before `before`. */
  firstBefore(before: Date, afterSequence: number): Promise<number | undefined>;
  /** Checkpoints vouching for a sequence in (after, through], in number order. */
  checkpointsWithin(afterSequence: number, throughSequence: number): Promise<AuditCheckpoint[]>;
  /** Row lock on the chain head for the rest of the transaction: no append commits meanwhile. */
  lockHead(): Promise<void>;
  /**
   * Deletes the events in (after, through], the only deletion the append-only trigger lets
   * through (in a transaction only); answers what it deleted, in sequence order.
   */
  deleteArchived(afterSequence: number, throughSequence: number): Promise<{ sequence: number; hash: string }[]>;
  insertArchive(a: AuditArchive): Promise<void>;
}
