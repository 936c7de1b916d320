import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { RecordingService } from "../../gen/warden/recording/v1/recording_service_pb.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { buildGoFixture, describeWithTools, GOCODE, runTool } from "../helpers/native-clients.js";
import { makeTempDir } from "../helpers/server-process.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, type TestApp } from "../helpers/test-app.js";

/**
 * A session recorder written in Go (Debian's grpc-go, stubs from protoc-gen-go and
 * protoc-gen-go-grpc) streams a 10 MiB recording in 64 KiB chunks, breaks the stream halfway,
 * resumes from the offset the server reports and finishes with the SHA-256. The program is
 * tests/e2e/fixtures/go-recorder/recorder.go; the assertions are here.
 * tests/integration/session-recordings.test.ts does the same from @grpc/grpc-js and connect-node.
 */

const TOOLS = [
  "/usr/bin/go",
  "/usr/bin/protoc",
  "/usr/bin/protoc-gen-go",
  "/usr/bin/protoc-gen-go-grpc",
  `${GOCODE}/src/google.golang.org/grpc`,
  `${GOCODE}/src/google.golang.org/protobuf`,
  `${GOCODE}/src/google.golang.org/genproto/googleapis/rpc/errdetails`,
];
const PACKAGES =
  "golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev golang-google-genproto-dev protobuf-compiler protoc-gen-go protoc-gen-go-grpc";

/** The protos the recorder imports, and every proto they import; each gets a Go import path under wardenagent/gen. */
const PROTOS = ["warden/recording/v1/recording_service.proto", "warden/options/v1/options.proto", "buf/validate/validate.proto"];

function buildGoRecorder(dir: string): Promise<string> {
  return buildGoFixture({ gopath: dir, pkg: "wardenagent", fixture: "go-recorder", protos: PROTOS, bin: "go-recorder" });
}

describeWithTools("a Go agent streams a session recording", TOOLS, PACKAGES, () => {
  let t: TestApp;
  let server: RunningServer;
  let bin: string;
  const workDir = makeTempDir("warden-go-recorder-");

  beforeAll(async () => {
    const [built, app] = await Promise.all([buildGoRecorder(join(workDir, "gopath")), createTestApp()]);
    bin = built;
    t = app;
    server = await startServer(t.app, "127.0.0.1:0");
  }, 300_000);

  afterAll(async () => {
    await server?.drain(200);
    await t?.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it("10 MiB in 64 KiB chunks, broken midway, resumed, complete and identical when read back", async () => {
    const admin = bearer((await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
    const join_ = t.client(JoinService);
    const { token } = await join_.createJoinToken({ uses: 1, ttl: { seconds: 600n } }, admin);
    const agent = await join_.registerAgent({ token, hostname: "go-recorder.example.test", version: "1.0.0" });

    const stdout = await runTool(bin, ["-addr", new URL(server.url).host, "-session", "go-session-1", "-mib", "10"], {
      env: { PATH: process.env.PATH, WARDEN_AGENT_ID: agent.agentId, WARDEN_AGENT_TOKEN: agent.agentToken },
      timeoutMs: 120_000,
    });
    const out = JSON.parse(stdout) as {
      broken: { code: number; code_name: string } | null;
      sent: number;
      asked: { recording_id: string; next_offset: number; complete: boolean };
      done: { recording_id: string; next_offset: number; complete: boolean };
      gap: { code: number; reason: string } | null;
      size: number;
      sha256: string;
    };
    expect(out.size).toBe(10 * 1024 * 1024);
    expect(out.broken?.code).toBe(grpc.status.CANCELLED);
    // What was stored before the break: whole chunks, no more than was sent.
    expect(out.asked.complete).toBe(false);
    expect(out.asked.next_offset % (64 * 1024)).toBe(0);
    expect(out.asked.next_offset).toBeGreaterThan(0);
    expect(out.asked.next_offset).toBeLessThanOrEqual(out.sent);
    expect(out.done).toEqual({ recording_id: out.asked.recording_id, next_offset: out.size, complete: true });
    expect(out.gap).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: "RECORDING_OFFSET_MISMATCH" });

    const recordings = createClient(RecordingService, createGrpcTransport({ baseUrl: server.url }));
    const hash = createHash("sha256");
    let size = 0;
    for await (const m of recordings.getSessionRecording({ id: out.done.recording_id }, admin)) {
      if (m.part.case === "recording")
        expect(m.part.value).toMatchObject({ complete: true, sessionId: "go-session-1", nodeId: agent.agentId, login: "gopher" });
      else if (m.part.case === "data") {
        hash.update(m.part.value);
        size += m.part.value.byteLength;
      }
    }
    expect(size).toBe(out.size);
    expect(hash.digest("hex")).toBe(out.sha256);
  }, 180_000);
});
