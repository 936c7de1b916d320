import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  SessionRecordingSchema,
  type RecordingService,
  type RecordingSession,
  type SessionRecording,
} from "../../gen/warden/recording/v1/recording_service_pb.js";
import { DomainError, invalidArgument } from "../domain/errors.js";
import type { RecordedSession, RecordingWriter, Recordings } from "../domain/recording/recordings.js";
import type { SessionRecordingRow } from "../domain/records.js";
import { agentOf, metaOf, principalOf } from "./call-context.js";

/**
 * How long a recording stream may wait for the agent's next message. Streams have no call
 * timeout (call-timeout.ts leaves them alone), so this bounds an idle one; what it stored stays.
 */
export const RECORDING_IDLE_MS = 60_000;

export function recordingHandlers(recordings: Recordings, idleMs = RECORDING_IDLE_MS): ServiceImpl<typeof RecordingService> {
  return {
    /** begin, chunks, finish: each in its turn. A stream of `begin` alone asks where the recording ends. */
    async streamSessionRecording(requests, ctx) {
      const agent = agentOf(ctx);
      let writer: RecordingWriter | undefined;
      let finished = false;
      try {
        for await (const req of withIdleLimit(requests, idleMs)) {
          const step = req.step;
          if (finished) throw invalidArgument("step", "nothing may follow `finish`");
          if (step.case === "begin") {
            if (writer) throw invalidArgument("begin", "comes once, first");
            writer = await recordings.begin(agent, sessionOf(step.value.session));
            continue;
          }
          if (!writer) throw invalidArgument("begin", "must come first");
          if (step.case === "chunk") {
            await writer.write(Number(step.value.offset), step.value.data);
          } else if (step.case === "finish") {
            await writer.finish(Number(step.value.sizeBytes), step.value.sha256, dateOf(step.value.endedAt), metaOf(ctx));
            finished = true;
          } else throw invalidArgument("step", "is required");
        }
      } catch (err) {
        // What came before the refused message is stored by the time the agent hears why.
        await writer?.settle().catch(() => {});
        throw err;
      }
      if (!writer) throw invalidArgument("begin", "the stream ended before `begin`");
      // The answer says where the stored bytes end: those still being written are waited for.
      await writer.settle();
      return { recordingId: writer.recordingId, nextOffset: BigInt(writer.nextOffset), complete: writer.complete };
    },
    async uploadSessionRecording(req, ctx) {
      const row = await recordings.upload(agentOf(ctx), sessionOf(req.session), req.data, req.sha256, metaOf(ctx));
      return { recordingId: row.id };
    },
    async listSessionRecordings(req, ctx) {
      const page = await recordings.list(
        principalOf(ctx),
        {
          user: req.user || undefined,
          nodeId: req.nodeId || undefined,
          startedAfter: dateOf(req.startedAfter),
          startedBefore: dateOf(req.startedBefore),
          includeIncomplete: req.includeIncomplete,
        },
        req.pageSize,
        req.pageToken,
      );
      return { recordings: page.items.map(recordingToProto), nextPageToken: page.nextPageToken };
    },
    async *getSessionRecording(req, ctx) {
      const { recording, bytes } = await recordings.open(principalOf(ctx), req.id, metaOf(ctx));
      yield { part: { case: "recording", value: recordingToProto(recording) } };
      for await (const data of bytes) yield { part: { case: "data", value: data } };
    },
  };
}

/** The messages, each within `ms` of the one before (or of the start); a longer wait ends the call. */
export async function* withIdleLimit<T>(messages: AsyncIterable<T>, ms: number): AsyncGenerator<T> {
  const it = messages[Symbol.asyncIterator]();
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DomainError("deadline_exceeded", "DEADLINE_EXCEEDED", `no message for ${Math.round(ms / 1000)} seconds`)), ms);
    });
    const pending = it.next();
    // Still pending when the time is up: its outcome no longer matters.
    pending.catch(() => {});
    let next: IteratorResult<T>;
    try {
      next = await Promise.race([pending, idle]);
    } finally {
      clearTimeout(timer);
    }
    if (next.done) return;
    yield next.value;
  }
}

function sessionOf(s: RecordingSession | undefined): RecordedSession {
  if (!s?.startedAt) throw invalidArgument("session", "is required");
  return { sessionId: s.sessionId, user: s.user, login: s.login, startedAt: timestampDate(s.startedAt), endedAt: dateOf(s.endedAt) };
}

function dateOf(t: Timestamp | undefined): Date | undefined {
  return t ? timestampDate(t) : undefined;
}

export function recordingToProto(r: SessionRecordingRow): SessionRecording {
  return create(SessionRecordingSchema, {
    id: r.id,
    nodeId: r.nodeId,
    sessionId: r.sessionId,
    user: r.user,
    login: r.login,
    startedAt: timestampFromDate(r.startedAt),
    endedAt: r.endedAt ? timestampFromDate(r.endedAt) : undefined,
    sizeBytes: BigInt(r.sizeBytes),
    sha256: r.sha256 ?? new Uint8Array(0),
    complete: r.complete,
    createdAt: timestampFromDate(r.createdAt),
  });
}
