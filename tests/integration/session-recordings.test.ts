import { createHash, randomBytes } from "node:crypto";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import {
  RecordingService,
  StreamSessionRecordingRequestSchema,
  StreamSessionRecordingResponseSchema,
  type StreamSessionRecordingResponse,
} from "../../gen/warden/recording/v1/recording_service_pb.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { expectError } from "../helpers/expect-error.js";
import { auditOf, signUp } from "../helpers/mfa-world.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, type TestApp } from "../helpers/test-app.js";

type StreamMessage = MessageInitShape<typeof StreamSessionRecordingRequestSchema>;

const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 64 * KiB;
/** recording_max_bytes for this app: a 10 MiB recording fits, 11 MiB does not. */
const MAX_BYTES = 11 * MiB;
const STREAM_PATH = "/warden.recording.v1.RecordingService/StreamSessionRecording";

interface Agent {
  id: string;
  headers: Record<string, string>;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest();

function session(sessionId: string, user = "alice@example.test", login = "alice") {
  return { sessionId, user, login, startedAt: timestampFromDate(new Date("2026-11-30T10:00:00Z")) };
}

function begin(sessionId: string): StreamMessage {
  return { step: { case: "begin", value: { session: session(sessionId) } } };
}

function chunk(offset: number, data: Uint8Array): StreamMessage {
  return { step: { case: "chunk", value: { offset: BigInt(offset), data } } };
}

function finish(data: Uint8Array, digest: Uint8Array = sha256(data)): StreamMessage {
  return { step: { case: "finish", value: { sha256: digest, sizeBytes: BigInt(data.byteLength) } } };
}

/** begin, then `data` from `from` on in CHUNK pieces, then finish (unless told not to). */
function* recording(sessionId: string, data: Uint8Array, from = 0, opts: { finish?: boolean; digest?: Uint8Array } = {}): Generator<StreamMessage> {
  yield begin(sessionId);
  for (let at = from; at < data.byteLength; at += CHUNK) yield chunk(at, data.subarray(at, at + CHUNK));
  if (opts.finish !== false) yield finish(data, opts.digest);
}

async function* streamOf(messages: Iterable<StreamMessage>): AsyncGenerator<StreamMessage> {
  for (const m of messages) yield m;
}

describe("session recordings (RecordingService)", () => {
  let t: TestApp;
  let server: RunningServer;
  let recordings: Client<typeof RecordingService>;
  let admin: ReturnType<typeof bearer>;
  let nodeA: Agent;
  let nodeB: Agent;

  beforeAll(async () => {
    t = await createTestApp({ recording_max_bytes: MAX_BYTES, rate_class_budgets: "join_token=200,agent_token=200" });
    server = await startServer(t.app, "127.0.0.1:0");
    recordings = createClient(RecordingService, createGrpcTransport({ baseUrl: server.url }));
    admin = bearer((await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
    const join_ = t.client(JoinService);
    const joined = async (hostname: string): Promise<Agent> => {
      const { token } = await join_.createJoinToken({ uses: 1, ttl: { seconds: 600n } }, admin);
      const r = await join_.registerAgent({ token, hostname, version: "1.0.0" });
      return { id: r.agentId, headers: { "x-agent-id": r.agentId, authorization: `Bearer ${r.agentToken}` } };
    };
    nodeA = await joined("rec-a.example.test");
    nodeB = await joined("rec-b.example.test");
  }, 60_000);

  afterAll(async () => {
    await server?.drain(200);
    await t?.close();
  });

  const send = (agent: Agent, messages: Iterable<StreamMessage>, signal?: AbortSignal) =>
    recordings.streamSessionRecording(streamOf(messages), { headers: agent.headers, signal });
  /** A stream of `begin` alone: where the recording ends. */
  const ask = (agent: Agent, sessionId: string) => send(agent, [begin(sessionId)]);

  async function readBack(id: string, h = admin): Promise<{ size: bigint; complete: boolean; bytes: Buffer }> {
    const parts: Buffer[] = [];
    let size = -1n;
    let complete = false;
    for await (const m of recordings.getSessionRecording({ id }, h)) {
      if (m.part.case === "recording") ({ sizeBytes: size, complete } = m.part.value);
      else if (m.part.case === "data") parts.push(Buffer.from(m.part.value));
    }
    return { size, complete, bytes: Buffer.concat(parts) };
  }

  async function stored(sessionId: string) {
    const page = await recordings.listSessionRecordings({ includeIncomplete: true, pageSize: 500 }, admin);
    return page.recordings.filter((r) => r.sessionId === sessionId);
  }

  it("a 10 MiB recording broken midway resumes from the offset the server reports, completes and reads back identical", async () => {
    const data = randomBytes(10 * MiB);
    const abort = new AbortController();
    const half = 5 * MiB;
    // The first stream stops sending halfway and is aborted once the server stored some of it.
    const aborted = new Promise<void>((resolve) => abort.signal.addEventListener("abort", () => resolve()));
    const broken = recordings.streamSessionRecording(
      (async function* () {
        yield* [...recording("s-10mib", data, 0, { finish: false })].slice(0, 1 + half / CHUNK);
        // The stream stays open, unfinished, until it breaks.
        await aborted;
      })(),
      { headers: nodeA.headers, signal: abort.signal },
    );
    broken.catch(() => {});
    for (let i = 0; i < 200; i++) {
      const [row] = await stored("s-10mib");
      if (row && row.sizeBytes >= BigInt(half)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    abort.abort();
    await expectError(broken, Code.Canceled);

    const asked = await ask(nodeA, "s-10mib");
    expect(asked.complete).toBe(false);
    const next = Number(asked.nextOffset);
    expect(next).toBe(half);
    // Resume: the last stored chunk again (identical: skipped), then the rest and the checksum.
    const resumed = await send(
      nodeA,
      (function* () {
        yield begin("s-10mib");
        yield chunk(next - CHUNK, data.subarray(next - CHUNK, next));
        yield* [...recording("s-10mib", data, next)].slice(1);
      })(),
    );
    expect(resumed).toMatchObject({ recordingId: asked.recordingId, nextOffset: BigInt(data.byteLength), complete: true });

    const back = await readBack(resumed.recordingId);
    expect(back.complete).toBe(true);
    expect(back.size).toBe(BigInt(data.byteLength));
    expect(back.bytes.equals(data)).toBe(true);
    const [row] = await stored("s-10mib");
    expect(Buffer.from(row!.sha256).equals(sha256(data))).toBe(true);
    expect(row!.nodeId).toBe(nodeA.id);
    // Completion and reading are audited.
    expect((await auditOf(t, "recording.complete", nodeA.id)).some((e) => e.targetId === resumed.recordingId)).toBe(true);
    const readEvents = await t.app.hooks.store.audit.query({ eventTypes: ["recording.read"], targetId: resumed.recordingId, limit: 10 });
    expect(readEvents.length).toBeGreaterThanOrEqual(1);

    // Complete: never written again, not even an identical finish.
    await expectError(send(nodeA, [begin("s-10mib"), chunk(data.byteLength, Buffer.from("more"))]), Code.FailedPrecondition, "RECORDING_COMPLETE");
    await expectError(send(nodeA, [begin("s-10mib"), finish(data)]), Code.FailedPrecondition, "RECORDING_COMPLETE");
    expect(await ask(nodeA, "s-10mib")).toMatchObject({ complete: true, nextOffset: BigInt(data.byteLength) });
  }, 120_000);

  it("a 10 MiB recording from @grpc/grpc-js, cancelled midway and resumed", async () => {
    const data = randomBytes(10 * MiB);
    const client = new grpc.Client(server.url.replace(/^http:\/\//, ""), grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(nodeA.headers)) metadata.set(k, v);
    const serialize = (m: StreamMessage) => Buffer.from(toBinary(StreamSessionRecordingRequestSchema, create(StreamSessionRecordingRequestSchema, m)));
    const deserialize = (b: Buffer) => fromBinary(StreamSessionRecordingResponseSchema, b);
    const stream = (messages: StreamMessage[], cancelAfter?: number) =>
      new Promise<StreamSessionRecordingResponse>((resolve, reject) => {
        const call = client.makeClientStreamRequest(STREAM_PATH, serialize, deserialize, metadata, (err, res) => (err ? reject(err) : resolve(res!)));
        let i = 0;
        const pump = () => {
          while (i < messages.length) {
            if (cancelAfter !== undefined && i === cancelAfter) {
              // Let the server store what was sent, then break the stream.
              setTimeout(() => call.cancel(), 500);
              return;
            }
            if (!call.write(messages[i++])) return void call.once("drain", pump);
          }
          call.end();
        };
        pump();
      });
    try {
      const all = [...recording("s-grpc-js", data)];
      const broken = await stream(all, 1 + 40).catch((e: grpc.ServiceError) => e);
      expect((broken as grpc.ServiceError).code).toBe(grpc.status.CANCELLED);
      const asked = await stream([begin("s-grpc-js")]);
      expect(asked.complete).toBe(false);
      expect(Number(asked.nextOffset) % CHUNK).toBe(0);
      expect(Number(asked.nextOffset)).toBeLessThanOrEqual(40 * CHUNK);
      const done = await stream([...recording("s-grpc-js", data, Number(asked.nextOffset))]);
      expect(done).toMatchObject({ complete: true, nextOffset: BigInt(data.byteLength) });
      expect((await readBack(done.recordingId)).bytes.equals(data)).toBe(true);
      // An error reaches grpc-js with its code: a gap after the end.
      const gap = await stream([begin("s-grpc-js-2"), chunk(CHUNK, data.subarray(0, CHUNK))]).catch((e: grpc.ServiceError) => e);
      expect((gap as grpc.ServiceError).code).toBe(grpc.status.FAILED_PRECONDITION);
    } finally {
      client.close();
    }
  }, 120_000);

  it("over recording_max_bytes: RESOURCE_EXHAUSTED, and nothing partial is ever complete", async () => {
    const data = randomBytes(MAX_BYTES + CHUNK);
    await expectError(send(nodeA, recording("s-too-big", data)), Code.ResourceExhausted, "RECORDING_TOO_LARGE");
    const [row] = await stored("s-too-big");
    expect(row!.complete).toBe(false);
    expect(row!.sizeBytes).toBe(BigInt(MAX_BYTES));
    // Finishing what was stored, with its right checksum, does not help: the rest never fits.
    await expectError(send(nodeA, [begin("s-too-big"), chunk(MAX_BYTES, data.subarray(MAX_BYTES))]), Code.ResourceExhausted, "RECORDING_TOO_LARGE");
    await expectError(readBack(row!.id), Code.NotFound, "RECORDING_NOT_FOUND");
    expect((await recordings.listSessionRecordings({ nodeId: nodeA.id }, admin)).recordings.map((r) => r.sessionId)).not.toContain("s-too-big");
  }, 120_000);

  it("a chunk over recording_max_chunk_bytes is refused; so are gaps and changed bytes", async () => {
    const big = randomBytes(256 * KiB + 1);
    await expectError(send(nodeA, [begin("s-chunks"), chunk(0, big)]), Code.ResourceExhausted, "RECORDING_TOO_LARGE");
    const data = randomBytes(3 * CHUNK);
    await send(nodeA, [...recording("s-chunks", data.subarray(0, 2 * CHUNK), 0, { finish: false })]);
    await expectError(send(nodeA, [begin("s-chunks"), chunk(3 * CHUNK, data.subarray(0, CHUNK))]), Code.FailedPrecondition, "RECORDING_OFFSET_MISMATCH");
    const changed = Buffer.from(data.subarray(CHUNK, 2 * CHUNK));
    changed[0] ^= 1;
    await expectError(send(nodeA, [begin("s-chunks"), chunk(CHUNK, changed)]), Code.FailedPrecondition, "RECORDING_OFFSET_MISMATCH");
    expect((await ask(nodeA, "s-chunks")).nextOffset).toBe(BigInt(2 * CHUNK));
    // Begun again for another user: refused.
    await expectError(
      send(nodeA, [{ step: { case: "begin", value: { session: session("s-chunks", "mallory@example.test") } } }]),
      Code.FailedPrecondition,
      "RECORDING_SESSION_MISMATCH",
    );
    // Messages out of turn.
    await expectError(send(nodeA, [chunk(0, data)]), Code.InvalidArgument);
    await expectError(send(nodeA, []), Code.InvalidArgument);
  });

  it("a wrong SHA-256 leaves the recording incomplete and its bytes discarded; the right one then completes it", async () => {
    const data = randomBytes(3 * CHUNK + 100);
    await expectError(
      send(nodeA, recording("s-sha", data, 0, { digest: sha256(Buffer.from("other")) })),
      Code.FailedPrecondition,
      "RECORDING_CHECKSUM_MISMATCH",
    );
    expect(await ask(nodeA, "s-sha")).toMatchObject({ complete: false, nextOffset: 0n });
    const [row] = await stored("s-sha");
    expect(row!.complete).toBe(false);
    // A size that is not what is stored is refused without discarding.
    await send(nodeA, [...recording("s-sha", data, 0, { finish: false })]);
    await expectError(send(nodeA, [begin("s-sha"), { step: { case: "finish", value: { sha256: sha256(data), sizeBytes: 5n } } }]), Code.FailedPrecondition);
    // Resumed by another stream: the server hashes what it stored.
    expect(await send(nodeA, [begin("s-sha"), finish(data)])).toMatchObject({ complete: true });
    expect((await readBack(row!.id)).bytes.equals(data)).toBe(true);
  });

  it("UploadSessionRecording stores a small recording in one call", async () => {
    const data = randomBytes(200 * KiB);
    await expectError(
      recordings.uploadSessionRecording({ session: session("s-upload"), data, sha256: sha256(Buffer.from("x")) }, { headers: nodeA.headers }),
      Code.FailedPrecondition,
      "RECORDING_CHECKSUM_MISMATCH",
    );
    const { recordingId } = await recordings.uploadSessionRecording({ session: session("s-upload"), data, sha256: sha256(data) }, { headers: nodeA.headers });
    expect((await readBack(recordingId)).bytes.equals(data)).toBe(true);
    // Over 1 MiB: the proto refuses it.
    await expectError(
      recordings.uploadSessionRecording({ session: session("s-upload-big"), data: randomBytes(MiB + 1), sha256: sha256(data) }, { headers: nodeA.headers }),
      Code.InvalidArgument,
    );
  });

  it("an agent writes only its own node's recordings; only readers with recording/read list or read them", async () => {
    const data = randomBytes(CHUNK);
    const a = await send(nodeA, recording("s-shared", data));
    // The same session id from node B is node B's own recording: node A's is untouched.
    const other = randomBytes(CHUNK);
    const b = await send(nodeB, recording("s-shared", other));
    expect(b.recordingId).not.toBe(a.recordingId);
    expect((await readBack(a.recordingId)).bytes.equals(data)).toBe(true);
    const listedB = await recordings.listSessionRecordings({ nodeId: nodeB.id }, admin);
    expect(listedB.recordings.map((r) => r.id)).toEqual([b.recordingId]);
    // Filters: user and time.
    expect((await recordings.listSessionRecordings({ user: "nobody@example.test" }, admin)).recordings).toEqual([]);
    const later = timestampFromDate(new Date("2026-12-01T00:00:00Z"));
    expect((await recordings.listSessionRecordings({ startedAfter: later }, admin)).recordings).toEqual([]);
    expect((await recordings.listSessionRecordings({ startedBefore: later, nodeId: nodeA.id }, admin)).recordings.length).toBeGreaterThan(0);
    // Pages.
    const first = await recordings.listSessionRecordings({ pageSize: 1 }, admin);
    expect(first.recordings).toHaveLength(1);
    const second = await recordings.listSessionRecordings({ pageSize: 1, pageToken: first.nextPageToken }, admin);
    expect(second.recordings[0]!.id).not.toBe(first.recordings[0]!.id);

    // A plain user, and an agent, read nothing.
    const user = await signUp(t, "rec-user");
    await expectError(recordings.listSessionRecordings({}, user.h), Code.PermissionDenied);
    await expectError(readBack(a.recordingId, user.h), Code.PermissionDenied);
    await expectError(recordings.listSessionRecordings({}, { headers: nodeB.headers }), Code.Unauthenticated);
    // And nobody writes without an agent's credential.
    await expectError(send({ id: "", headers: admin.headers }, recording("s-user", data)), Code.Unauthenticated);
  });
});
