import { createHash, timingSafeEqual, type Hash } from "node:crypto";
import type { Clock } from "../../clock.js";
import type { AgentPrincipal } from "../agent/agent-credentials.js";
import { auditActor } from "../audit/audit-actor.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound } from "../errors.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import type { Principal } from "../principal.js";
import type { SessionRecordingRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { RecordingStore } from "../store/recording-store.js";
import type { Ports } from "../store/transactional.js";
import type { RecordingReaders } from "./recording-readers.js";

export interface RecordedSession {
  sessionId: string;
  user: string;
  login: string;
  startedAt: Date;
  endedAt?: Date;
}

export interface RecordingFilter {
  user?: string;
  nodeId?: string;
  startedAfter?: Date;
  startedBefore?: Date;
  includeIncomplete: boolean;
}

export interface RecordingsDeps {
  store: Ports<{ recordings: RecordingStore; audit: AuditStore }>;
  clock: Clock;
  audit: AuditLog;
  /** recording_max_bytes: the most one recording may hold. */
  maxBytes: number;
  /** recording_max_chunk_bytes: the most one streamed chunk may hold. */
  maxChunkBytes: number;
  /** Who reads which recordings (recording/read: all; recording/read_reachable: their roles' nodes). */
  readers: Pick<RecordingReaders, "scopeOf" | "requireReadable">;
}

/** Chunks are read back (to hash, to stream) about this many bytes per query. */
const READ_BATCH_BYTES = 4 * 1024 * 1024;

/** UploadSessionRecording's one message holds at most this (the proto says so too). */
export const MAX_UPLOAD_BYTES = 1024 * 1024;

/**
 * Session recordings: agents write their own node's (the node is the agent's, never a field of
 * the request), in order, by offset; readers stream them back: every one with recording/read, those
 * of their roles' nodes with recording/read_reachable (RecordingReaders).
 */
export class Recordings {
  constructor(private readonly d: RecordingsDeps) {}

  /** The node's recording of this session (made empty if new), ready to take the bytes from where it ends. */
  async begin(agent: AgentPrincipal, session: RecordedSession): Promise<RecordingWriter> {
    const row = await this.d.store.recordings.open({
      nodeId: agent.agentId,
      sessionId: session.sessionId,
      user: session.user,
      login: session.login,
      startedAt: session.startedAt,
      endedAt: session.endedAt ?? null,
      createdAt: this.d.clock.now(),
    });
    if (row.user !== session.user || row.login !== session.login || row.startedAt.getTime() !== session.startedAt.getTime())
      throw new DomainError("failed_precondition", "RECORDING_SESSION_MISMATCH", "this session's recording was begun for another user, login or start time");
    return new RecordingWriter(this.d, agent, row);
  }

  /** A whole small recording in one call: begin, one chunk, finish. */
  async upload(agent: AgentPrincipal, session: RecordedSession, data: Uint8Array, sha256: Uint8Array, meta: RequestMeta): Promise<SessionRecordingRow> {
    if (data.byteLength > MAX_UPLOAD_BYTES) throw tooLarge(`an uploaded recording holds at most ${MAX_UPLOAD_BYTES} bytes; stream larger ones`);
    const writer = await this.begin(agent, session);
    if (data.byteLength > 0) await writer.write(0, data, MAX_UPLOAD_BYTES);
    return writer.finish(data.byteLength, sha256, session.endedAt, meta);
  }

  async list(
    caller: Principal,
    filter: RecordingFilter,
    pageSizeRequested: number,
    pageToken: string,
  ): Promise<{ items: SessionRecordingRow[]; nextPageToken: string }> {
    const scope = await this.d.readers.scopeOf(caller);
    const size = pageSize(pageSizeRequested);
    const after = decodeCreatedCursor(pageToken);
    if (filter.startedAfter && filter.startedBefore && filter.startedAfter >= filter.startedBefore)
      throw invalidArgument("started_before", "must be after started_after");
    const rows = await this.d.store.recordings.list({
      ...filter,
      nodesReachedBy: scope,
      after: after && { startedAt: after.createdAt, id: after.id },
      limit: size + 1,
    });
    return pageOf(rows, size, (row) => createdCursorOf({ createdAt: row.startedAt, id: row.id }));
  }

  /** A complete recording for a reader who may read its node's: recorded in the audit log before any byte leaves. */
  async open(caller: Principal, id: string, meta: RequestMeta): Promise<{ recording: SessionRecordingRow; bytes: AsyncGenerator<Uint8Array> }> {
    const scope = await this.d.readers.scopeOf(caller);
    const recording = await this.d.store.recordings.find(id);
    if (!recording?.complete) throw notFound("RECORDING_NOT_FOUND", "session recording");
    await this.d.readers.requireReadable(scope, recording.nodeId);
    await this.d.audit.recordAlone({
      eventType: "recording.read",
      outcome: "success",
      ...auditActor(caller, meta),
      targetType: "session_recording",
      targetId: id,
      details: { node_id: recording.nodeId, session_id: recording.sessionId, user: recording.user },
    });
    return { recording, bytes: this.bytesOf(recording) };
  }

  private async *bytesOf(recording: SessionRecordingRow): AsyncGenerator<Uint8Array> {
    for await (const chunk of storedChunks(this.d.store.recordings, recording.id, recording.sizeBytes, this.d.maxChunkBytes)) yield chunk;
  }
}

/**
 * Bytes a stream may hold received but not yet stored: while one batch of chunks is written,
 * the next ones are read from the stream, and go to the database together in one statement.
 */
const WRITE_AHEAD_BYTES = 1024 * 1024;

/**
 * One stream's writing of one recording. Chunks are checked as they arrive and stored behind
 * them, a batch at a time; a failed batch fails the next write, finish or settle, which then
 * name where the stored bytes end.
 */
export class RecordingWriter {
  /** Where the bytes received end: stored ones and those waiting to be. */
  private next: number;
  /** Hashed as received, when this writer received every byte from 0; otherwise the stored bytes are hashed at the end. */
  private hash: Hash | undefined;
  private done = false;
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  /** The batch being written, and the loop writing batches while any are waiting. */
  private batch: Promise<unknown> | undefined;
  private flushing: Promise<void> | undefined;
  private failure: unknown;

  constructor(
    private readonly d: RecordingsDeps,
    private readonly agent: AgentPrincipal,
    private row: SessionRecordingRow,
  ) {
    this.next = row.sizeBytes;
    this.hash = row.sizeBytes === 0 ? createHash("sha256") : undefined;
  }

  get recordingId(): string {
    return this.row.id;
  }

  /** The next offset expected: after settle(), where the stored bytes end. */
  get nextOffset(): number {
    return this.next;
  }

  get complete(): boolean {
    return this.row.complete;
  }

  /**
   * Takes `data` at `offset`, which must be where the received bytes end; a resend of a stored
   * chunk with the same bytes is skipped. Returns the next offset expected. The bytes are stored
   * shortly after: this waits only when too many are waiting (WRITE_AHEAD_BYTES).
   */
  async write(offset: number, data: Uint8Array, maxChunkBytes = this.d.maxChunkBytes): Promise<number> {
    this.throwIfFailed();
    if (this.row.complete || this.done) throw completed();
    if (data.byteLength > maxChunkBytes) throw tooLarge(`a chunk holds at most ${maxChunkBytes} bytes (recording_max_chunk_bytes)`);
    if (offset < this.next) {
      await this.settle();
      const stored = await this.d.store.recordings.chunkAt(this.row.id, offset);
      if (stored && stored.byteLength === data.byteLength && Buffer.from(stored).equals(data)) return this.next;
      throw offsetMismatch(this.next, `the chunk at ${offset} differs from the bytes stored there`);
    }
    if (offset > this.next) throw offsetMismatch(this.next, `the chunk at ${offset} leaves a gap after ${this.next}`);
    if (offset + data.byteLength > this.d.maxBytes) throw tooLarge(`a recording holds at most ${this.d.maxBytes} bytes (recording_max_bytes)`);
    this.hash?.update(data);
    this.queued.push(data);
    this.queuedBytes += data.byteLength;
    this.next += data.byteLength;
    this.flushing ??= this.flush();
    // Its failure, if any, is the flush's to record: thrown below, once.
    if (this.queuedBytes >= WRITE_AHEAD_BYTES) await this.batch?.then(ignore, ignore);
    this.throwIfFailed();
    return this.next;
  }

  /** Waits until every byte received is stored (or its batch failed, which this throws). */
  async settle(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.throwIfFailed();
  }

  private async flush(): Promise<void> {
    let at = this.next - this.queuedBytes;
    try {
      while (this.queued.length > 0) {
        const chunks = this.queued;
        at = this.next - this.queuedBytes;
        this.queued = [];
        this.queuedBytes = 0;
        const written = this.d.store.recordings.append(this.row.id, at, chunks);
        this.batch = written;
        if (!(await written)) return await this.lostRace();
      }
    } catch (err) {
      // A batch is one statement: none of it was stored, so the stored bytes end where it began.
      this.failWith(err, at);
    } finally {
      this.flushing = undefined;
      this.batch = undefined;
    }
  }

  /** Another stream of this recording wrote first, completed it, or discarded it. */
  private async lostRace(): Promise<void> {
    const now = await this.d.store.recordings.find(this.row.id);
    if (!now || now.complete) return this.failWith(completed(), now?.sizeBytes ?? 0);
    this.failWith(offsetMismatch(now.sizeBytes, `the recording now ends at ${now.sizeBytes}`), now.sizeBytes);
  }

  /**
   * What was waiting is dropped (the agent sends it again from where the stored bytes end), and
   * the hash is made from the stored bytes at the end, since it took in bytes that were not stored.
   */
  private failWith(err: unknown, storedEnd: number): void {
    this.failure = err;
    this.next = storedEnd;
    this.hash = undefined;
    this.queued = [];
    this.queuedBytes = 0;
  }

  private throwIfFailed(): void {
    if (this.failure === undefined) return;
    const err = this.failure;
    this.failure = undefined;
    throw err;
  }

  /**
   * Completes the recording if it is `size` bytes long and `sha256` is what is stored. A wrong
   * checksum discards the stored bytes (the agent sends the recording again from 0); either way
   * it stays incomplete.
   */
  async finish(size: number, sha256: Uint8Array, endedAt: Date | undefined, meta: RequestMeta): Promise<SessionRecordingRow> {
    await this.settle();
    if (this.row.complete || this.done) throw completed();
    if (size !== this.next) throw offsetMismatch(this.next, `the recording is ${this.next} bytes so far, not ${size}`);
    const actual = this.hash ? this.hash.digest() : await this.storedHash();
    this.hash = undefined;
    if (sha256.byteLength !== actual.byteLength || !timingSafeEqual(sha256, actual)) {
      await this.d.store.recordings.discard(this.row.id);
      this.next = 0;
      this.hash = createHash("sha256");
      throw new DomainError(
        "failed_precondition",
        "RECORDING_CHECKSUM_MISMATCH",
        "the SHA-256 does not match the bytes stored; they were discarded, send the recording again",
        {
          metadata: { next_offset: "0" },
        },
      );
    }
    const completed_ = await this.d.store.transaction(async (tx) => {
      const row = await tx.recordings.complete(this.row.id, size, actual, endedAt ?? null);
      if (!row) return undefined;
      await this.d.audit.record(tx, {
        eventType: "recording.complete",
        outcome: "success",
        actorType: "agent",
        actorId: this.agent.agentId,
        clientIp: meta.clientIp,
        requestId: meta.requestId,
        targetType: "session_recording",
        targetId: row.id,
        details: { session_id: row.sessionId, user: row.user, login: row.login, size_bytes: String(size), sha256: actual.toString("hex") },
      });
      return row;
    });
    if (!completed_) throw completed();
    this.row = completed_;
    this.done = true;
    return completed_;
  }

  private async storedHash(): Promise<Buffer> {
    const hash = createHash("sha256");
    for await (const chunk of storedChunks(this.d.store.recordings, this.row.id, this.next, this.d.maxChunkBytes)) hash.update(chunk);
    return hash.digest();
  }
}

/** The stored bytes in order, checked to be contiguous and `size` long. */
async function* storedChunks(store: Pick<RecordingStore, "chunks">, id: string, size: number, maxChunkBytes: number): AsyncGenerator<Uint8Array> {
  const batch = Math.max(1, Math.floor(READ_BATCH_BYTES / Math.max(maxChunkBytes, MAX_UPLOAD_BYTES)));
  let at = 0;
  while (at < size) {
    const rows = await store.chunks(id, at, batch);
    if (rows.length === 0) break;
    for (const row of rows) {
      if (row.offset !== at) throw new DomainError("internal", "INTERNAL", "a session recording's stored chunks are not contiguous");
      at += row.data.byteLength;
      yield row.data;
    }
  }
  if (at !== size) throw new DomainError("internal", "INTERNAL", "a session recording's stored chunks do not add up to its size");
}

function ignore(): void {}

function tooLarge(message: string): DomainError {
  return new DomainError("resource_exhausted", "RECORDING_TOO_LARGE", message);
}

function completed(): DomainError {
  return new DomainError("failed_precondition", "RECORDING_COMPLETE", "the session recording is complete and cannot be written again");
}

function offsetMismatch(next: number, why: string): DomainError {
  return new DomainError("failed_precondition", "RECORDING_OFFSET_MISMATCH", `${why}; the next offset expected is ${next}`, {
    metadata: { next_offset: String(next) },
  });
}
