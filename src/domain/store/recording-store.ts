import type { SessionRecordingRow } from "../records.js";

export type NewRecording = Pick<SessionRecordingRow, "nodeId" | "sessionId" | "user" | "login" | "startedAt" | "endedAt" | "createdAt">;

export interface RecordingQuery {
  user?: string;
  nodeId?: string;
  startedAfter?: Date;
  startedBefore?: Date;
  includeIncomplete: boolean;
  /** Only recordings of nodes one of these role node_labels matches; undefined: every node. */
  nodesReachedBy?: Record<string, string[]>[];
  /** Keyset: rows before this (started_at, id), newest first. */
  after?: { startedAt: Date; id: string };
  limit: number;
}

export interface RecordingStore {
  /** The node's recording of this session, made (empty) if there is none yet. */
  open(row: NewRecording): Promise<SessionRecordingRow>;
  find(id: string): Promise<SessionRecordingRow | undefined>;
  /**
   * Appends the chunks, one after another from `offset`, if that is exactly where the
   * incomplete recording ends; false when it is not (another stream wrote first, or the
   * recording is complete). Atomic: all of them or none.
   */
  append(id: string, offset: number, chunks: Uint8Array[]): Promise<boolean>;
  /** The stored chunk starting at `offset`, if one does. */
  chunkAt(id: string, offset: number): Promise<Uint8Array | undefined>;
  /** Chunks in order from `from` on, at most `limit`. */
  chunks(id: string, from: number, limit: number): Promise<{ offset: number; data: Uint8Array }[]>;
  /** Marks it complete if it is still incomplete and `size` bytes long; false otherwise. */
  complete(id: string, size: number, sha256: Uint8Array, endedAt: Date | null): Promise<SessionRecordingRow | undefined>;
  /** Drops the stored bytes of an incomplete recording (its checksum did not match). */
  discard(id: string): Promise<void>;
  list(q: RecordingQuery): Promise<SessionRecordingRow[]>;
}
