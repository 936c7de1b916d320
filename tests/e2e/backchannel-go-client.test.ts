import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  AUTHENTICATE,
  BACKCHANNEL_PASSWORD,
  BACKCHANNEL_USER,
  mailOrganization,
  MESSAGES,
  registerMailUser,
  startBackchannelWarden,
  UUID,
  type BackchannelWarden,
  type MailUser,
} from "../helpers/backchannel.js";
import { describeWithTools, GOCODE, goBuild, rpcLogLines, runJsonClient, runTool } from "../helpers/native-clients.js";
import { eventually } from "../helpers/probes.js";
import { makeTempDir, REPO_ROOT } from "../helpers/server-process.js";
import { ADMIN_EMAIL } from "../helpers/test-app.js";

/**
 * A grpc-go client (Debian's golang-google-grpc-dev, stubs from protoc-gen-go and
 * protoc-gen-go-grpc) of the published Nauthilus contract against Warden's backchannel over h2c,
 * as a Go mail-server integration would call it: Basic as per-RPC credentials, Authenticate (OK
 * and FAIL) and ListAccounts. The program is tests/e2e/fixtures/go-nauthilus/main.go.
 */

const TOOLS = [
  "/usr/bin/go",
  "/usr/bin/protoc",
  "/usr/bin/protoc-gen-go",
  "/usr/bin/protoc-gen-go-grpc",
  `${GOCODE}/src/google.golang.org/grpc`,
  `${GOCODE}/src/google.golang.org/protobuf`,
];
const PACKAGES = "golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev protobuf-compiler protoc-gen-go protoc-gen-go-grpc";
const PROTO = "nauthilus/auth/v1/auth.proto";

/** Generates the stubs (the proto has no go_package: an M option names its import path) and builds offline in GOPATH mode. */
async function buildClient(dir: string): Promise<string> {
  const pkg = join(dir, "src/nauthilusclient");
  mkdirSync(pkg, { recursive: true });
  copyFileSync(resolve(REPO_ROOT, "tests/e2e/fixtures/go-nauthilus/main.go"), join(pkg, "main.go"));
  const m = `M${PROTO}=nauthilusclient/gen/nauthilus/auth/v1`;
  await runTool(
    "/usr/bin/protoc",
    [
      "-I",
      "proto",
      "--plugin=protoc-gen-go=/usr/bin/protoc-gen-go",
      "--plugin=protoc-gen-go-grpc=/usr/bin/protoc-gen-go-grpc",
      `--go_out=${dir}/src`,
      `--go_opt=${m}`,
      `--go-grpc_out=${dir}/src`,
      `--go-grpc_opt=${m}`,
      PROTO,
    ],
    { cwd: REPO_ROOT },
  );
  return goBuild(dir, pkg, join(dir, "go-nauthilus"));
}

describeWithTools("grpc-go client of the Nauthilus contract against Warden's backchannel (h2c)", TOOLS, PACKAGES, () => {
  let workDir: string;
  let w: BackchannelWarden;
  let alice: MailUser;
  let bob: MailUser;
  let out: any;

  beforeAll(async () => {
    workDir = makeTempDir("warden-go-nauthilus-");
    // The build (CPU-bound) and the server start overlap.
    const [built, started] = await Promise.allSettled([buildClient(workDir), startBackchannelWarden()]);
    if (started.status === "fulfilled") w = started.value;
    for (const r of [built, started]) if (r.status === "rejected") throw r.reason;
    const bin = (built as PromiseFulfilledResult<string>).value;
    [alice, bob] = await Promise.all([registerMailUser(w.server.baseUrl, "go-alice"), registerMailUser(w.server.baseUrl, "go-bob")]);
    const { tokens } = await mailOrganization(w.server.baseUrl, alice, [], { mail: ["API_KEY_SCOPE_BACKCHANNEL", "API_KEY_SCOPE_BACKCHANNEL_LIST_ACCOUNTS"] });
    out = await runJsonClient(bin, [
      "-addr",
      w.server.backchannelAddress!,
      "-basic",
      `${BACKCHANNEL_USER}:${BACKCHANNEL_PASSWORD}`,
      "-username",
      alice.email,
      "-password",
      alice.password,
      "-wrong",
      "not-alices-password-at-all",
      "-token",
      tokens.mail!,
    ]);
  }, 300_000);

  afterAll(async () => {
    await w?.dispose();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("Authenticate with Basic: OK, the typed decision, attributes, a session id and backend 100", () => {
    expect(out.ok).toEqual({
      ok: true,
      decision: "AUTH_DECISION_OK",
      session: expect.stringMatching(UUID),
      accountField: "account",
      backend: 100,
      attributes: expect.objectContaining({ account: [alice.email], mail: [alice.email], uid: [alice.id] }),
      statusMessage: MESSAGES.ok,
      error: "",
      contentLanguage: "en",
    });
  });

  it("Authenticate with a wrong password and accept-language: de: FAIL with a German message and content-language: de", () => {
    expect(out.fail).toEqual({
      ok: false,
      decision: "AUTH_DECISION_FAIL",
      session: expect.stringMatching(UUID),
      accountField: "",
      backend: 100,
      attributes: {},
      statusMessage: MESSAGES.invalidDe,
      error: "",
      contentLanguage: "de",
    });
  });

  it("ListAccounts: every account for the Basic caller, the organization's members for its service account", () => {
    expect(out.listAccounts.rpcError).toBeUndefined();
    expect(out.listAccounts.accounts.sort()).toEqual([ADMIN_EMAIL, alice.email, bob.email].sort());
    expect(out.listAccounts.session).toMatch(UUID);
    expect(out.listAccountsByServiceAccount).toEqual({ accounts: [alice.email], session: expect.stringMatching(UUID) });
    expect(out.okByServiceAccount).toMatchObject({ ok: true, decision: "AUTH_DECISION_OK" });
  });

  it("the caller's failures are gRPC errors: UNAUTHENTICATED without credentials or with a wrong Basic password", () => {
    expect(out.unauthenticated.rpcError).toEqual({ code: grpc.status.UNAUTHENTICATED, reason: "UNAUTHENTICATED", message: expect.any(String) });
    expect(out.wrongBasic.rpcError).toEqual({ code: grpc.status.UNAUTHENTICATED, reason: "INVALID_CREDENTIALS", message: expect.any(String) });
    expect(out.health).toEqual({ status: "SERVING", error: null });
  });

  it("the server logged each call with its outcome", async () => {
    await eventually(async () => rpcLogLines(w.server, AUTHENTICATE).length >= 5, 5000, "five Authenticate log lines");
    const calls = rpcLogLines(w.server, AUTHENTICATE);
    expect(calls.map((l) => l.code)).toEqual(["ok", "ok", "Unauthenticated", "Unauthenticated", "ok"]);
  });
});
