import { createHash, randomBytes } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuthService } from "../gen/warden/auth/v1/auth_service_pb.js";
import { JoinService } from "../gen/warden/join/v1/join_service_pb.js";
import { RecordingService, StreamSessionRecordingRequestSchema, type StreamSessionRecordingRequest } from "../gen/warden/recording/v1/recording_service_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { H2Pool } from "./h2-client.js";
import type { Operation } from "./load.js";
import { callOnce, pathOf, type Scenario, type Throughput } from "./scenarios.js";
import { BENCH_ADMIN } from "./ssh-scenarios.js";

const MiB = 1024 * 1024;
/** One call streams one recording this long, in CHUNK pieces (the server's default chunk limit). */
const RECORDING_MIB = 4;
const CHUNK = 256 * 1024;
const NAME = `StreamSessionRecording (${RECORDING_MIB} MiB)`;
/**
 * Recordings in flight at once, whatever BENCH_CONCURRENCY says: 64 streams of 4 MiB would each
 * take longer than the window (agents upload one recording each, after their sessions end).
 */
const STREAMS = 4;

/** At most `n` calls of the returned wrapper run at once; the others wait their turn. */
function limited(n: number, op: Operation): Operation {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async () => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      await op();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

/** One Connect streaming envelope: flags 0, big-endian length, the message. */
function envelope(m: MessageInitShape<typeof StreamSessionRecordingRequestSchema>): Buffer {
  const bytes = toBinary(StreamSessionRecordingRequestSchema, create(StreamSessionRecordingRequestSchema, m) as StreamSessionRecordingRequest);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.byteLength, 1);
  return Buffer.concat([head, bytes]);
}

/**
 * The Connect client-streaming answer: HTTP 200 and envelopes, the last (flag 0x02) a JSON
 * end-of-stream that carries `error` when the call failed.
 */
function failureOf(status: number, body: Buffer): string | undefined {
  if (status !== 200) return `HTTP ${status} ${body.subarray(0, 200).toString("utf8")}`;
  for (let at = 0; at + 5 <= body.byteLength;) {
    const flags = body[at]!;
    const len = body.readUInt32BE(at + 1);
    if (flags & 0x02) {
      const end = JSON.parse(body.subarray(at + 5, at + 5 + len).toString("utf8")) as { error?: { code?: string; message?: string } };
      return end.error ? `${end.error.code}: ${end.error.message}` : undefined;
    }
    at += 5 + len;
  }
  return "no end-of-stream message";
}

/**
 * Recording ingest: an agent streams whole recordings (begin, 16 chunks of 256 KiB, finish with
 * the SHA-256), each call a new session; the server stores every chunk as a row and completes
 * the recording when the checksum matches. Rate in MiB/s = calls/s x 4.
 */
function streamRecordingScenario(): Scenario {
  let admin: Record<string, string> = {};
  let nodeId = "";
  let accepted = 0;
  let completeBefore = 0;
  return {
    name: NAME,
    measures: `warden.recording.v1.RecordingService/StreamSessionRecording (Connect client stream, application/connect+proto) as one agent, ${STREAMS} streams at a time (calls beyond wait their turn): a new ${RECORDING_MIB} MiB recording per call in 256 KiB chunks plus its SHA-256, each chunk a row in PostgreSQL and the recording marked complete once the checksum matches (MiB/s = calls/s x ${RECORDING_MIB}). After each window ListSessionRecordings (admin) must list a complete recording for every accepted call.`,
    where: "server",
    async prepare({ pool }) {
      const login = await callOnce(pool, AuthService.method.login, BENCH_ADMIN);
      admin = { authorization: `Bearer ${login.accessToken}` };
      const { token } = await callOnce(pool, JoinService.method.createJoinToken, { uses: 1 }, admin);
      const r = await callOnce(pool, JoinService.method.registerAgent, { token, hostname: "recording-agent.bench.example.com" });
      nodeId = r.agentId;
      const headers = { "x-agent-id": r.agentId, authorization: `Bearer ${r.agentToken}`, "content-type": "application/connect+proto" };
      const data = randomBytes(RECORDING_MIB * MiB);
      const rest: Buffer[] = [];
      for (let at = 0; at < data.byteLength; at += CHUNK)
        rest.push(envelope({ step: { case: "chunk", value: { offset: BigInt(at), data: data.subarray(at, at + CHUNK) } } }));
      rest.push(envelope({ step: { case: "finish", value: { sha256: createHash("sha256").update(data).digest(), sizeBytes: BigInt(data.byteLength) } } }));
      const tail = Buffer.concat(rest);
      const startedAt = timestampFromDate(new Date());
      const path = pathOf(RecordingService.method.streamSessionRecording);
      let sent = 0;
      const op: Operation = async () => {
        const begin = envelope({
          step: { case: "begin", value: { session: { sessionId: `bench-${process.pid}-${sent++}`, user: "bench@example.com", login: "ubuntu", startedAt } } },
        });
        const res = await pool.unary(path, Buffer.concat([begin, tail]), headers);
        const failed = failureOf(res.status, res.body);
        if (failed) throw new Error(failed);
        accepted++;
      };
      await op();
      completeBefore = await completeRecordings(pool, admin, nodeId);
      accepted = 0;
      return limited(STREAMS, op);
    },
    async verify({ pool }) {
      const complete = await completeRecordings(pool, admin, nodeId);
      const grown = complete - completeBefore;
      if (grown < accepted) throw new Error(`ListSessionRecordings: ${grown} new complete recordings, but ${accepted} calls were accepted`);
      completeBefore = complete;
      const line = `ListSessionRecordings: ${grown} new complete recordings for ${accepted} accepted calls`;
      accepted = 0;
      return line;
    },
  };
}

async function completeRecordings(pool: H2Pool, admin: Record<string, string>, nodeId: string): Promise<number> {
  let count = 0;
  let pageToken = "";
  do {
    const page = await callOnce(pool, RecordingService.method.listSessionRecordings, { nodeId, pageSize: 500, pageToken }, admin);
    count += page.recordings.filter((r) => r.complete).length;
    pageToken = page.nextPageToken;
  } while (pageToken);
  return count;
}

export const RECORDING_SCENARIOS: Scenario[] = [streamRecordingScenario()];

export const RECORDING_THROUGHPUTS: Throughput[] = [
  {
    scenario: NAME,
    unit: "MiB",
    perCall: RECORDING_MIB,
    target: 50,
    why: "session recording ingest: streamed, stored as chunk rows and checksummed, on PostgreSQL",
  },
];
