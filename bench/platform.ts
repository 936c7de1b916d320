/**
 * The platform comparison (issue 15): Warden's HealthCheck and ValidateSession against bare
 * servers of the same platform, in one run, with off-the-shelf load generators: h2load -c8 -m16
 * on gRPC (h2c) against a bare @grpc/grpc-js empty unary RPC, wrk -c16 -t2 on Connect JSON
 * (HTTP/1.1) against a bare node:http JSON echo. Prints a table and the ratio targets.
 */
import { create, fromBinary, fromJson, toBinary, type DescMessage, type DescMethodUnary, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { HealthService, ServingStatus } from "../gen/warden/health/v1/health_service_pb.js";
import { SessionService } from "../gen/warden/session/v1/session_service_pb.js";
import { cpuTicks, machineCores } from "./machine.js";
import { startBare, type BareServer } from "./platform-bare.js";
import { grpcCall, grpcEnvelope, jsonCall } from "./platform-probe.js";
import { h2load, hasTool, INSTALL_HINT, toolVersion, wrk, wrkScript, type LoadFigures } from "./platform-tools.js";
import { BARE_GRPC_PATH } from "./bare/paths.js";
import { pathOf } from "./scenarios.js";
import { serverCpuSeconds } from "./server.js";

/** The name BENCH_ONLY matches (case-insensitive fragments, like the scenarios' names). */
export const PLATFORM_NAME = "platform";

export interface PlatformOptions {
  /** Warden's origin (h2c and HTTP/1.1 on the same port). */
  origin: string;
  accessToken: string;
  repoRoot: string;
  seconds: number;
  warmup: number;
  logLevel: string;
  signal: AbortSignal;
}

type TargetId = "grpc-js" | "health-grpc" | "validate-grpc" | "node-http" | "health-json" | "validate-json";

interface Target {
  id: TargetId;
  server: string;
  protocol: string;
  tool: "h2load" | "wrk";
  /** A decoded call: throws unless the answer is the RPC's success. */
  check(): Promise<void>;
  /** The load run; `onMeasuring` is called when its measured window starts. */
  load(onMeasuring: () => void): Promise<LoadFigures>;
  /** CPU seconds the server under test used so far. */
  cpuSeconds(): Promise<number | undefined>;
}

interface Row {
  target: Target;
  figures: LoadFigures;
  machineCores?: number;
  /** The server's CPU per answer in the measured window, ms: less disturbed by other load than requests/s. */
  cpuMsPerCall?: number;
}

const RATIOS: { numerator: TargetId; denominator: TargetId; target: number; why: string }[] = [
  { numerator: "health-grpc", denominator: "grpc-js", target: 0.8, why: "a public unary RPC at the speed of grpc-js on the same node:http2 core" },
  { numerator: "health-json", denominator: "node-http", target: 0.5, why: "Connect JSON at half the speed of a bare node:http JSON echo" },
  { numerator: "validate-grpc", denominator: "health-grpc", target: 0.85, why: "token validation costs little beyond the stack" },
  { numerator: "validate-json", denominator: "health-json", target: 0.85, why: "token validation costs little beyond the stack" },
];

/** Runs the comparison and prints its report; false when it could not run at all (a tool or a bare server missing). */
export async function runPlatform(opts: PlatformOptions): Promise<boolean> {
  console.log(`\nplatform comparison: h2load -c8 -m16 (gRPC, h2c) and wrk -c16 -t2 (HTTP/1.1), ${opts.warmup}s warm-up + ${opts.seconds}s measured per row`);
  if (opts.logLevel !== "warn") console.log(`  NOTE: the server runs at log level ${opts.logLevel}; the issue's targets are for warn`);
  const missing = (["h2load", "wrk"] as const).filter((t) => !hasTool(t));
  if (missing.length) {
    console.log(`platform: FAIL, ${missing.join(" and ")} not found; ${INSTALL_HINT}`);
    for (const r of RATIOS) console.log(`${label(r.numerator)} / ${label(r.denominator)}: FAIL (not measured: ${missing.join(", ")} missing)`);
    return false;
  }
  console.log(`  ${toolVersion("h2load")}; ${toolVersion("wrk")}`);

  const work = mkdtempSync(join(tmpdir(), "warden-bench-platform-"));
  const bare: BareServer[] = [];
  try {
    const grpcJs = await startBare("grpc-server.ts", opts.repoRoot);
    bare.push(grpcJs);
    const echo = await startBare("http-echo.ts", opts.repoRoot);
    bare.push(echo);
    const targets = buildTargets(opts, grpcJs, echo, work);
    const rows: Row[] = [];
    for (const target of targets) {
      if (opts.signal.aborted) return true;
      process.stdout.write(`${target.server}, ${target.protocol} ... `);
      const row = await measure(target, opts.seconds);
      rows.push(row);
      console.log(row.figures.ok ? `${row.figures.rps.toFixed(0)} req/s, machine ${pct(row.machineCores)} busy` : `FAIL: ${row.figures.reason}`);
    }
    printPlatformReport(rows);
    return true;
  } finally {
    for (const s of bare) s.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Sample call, load run, sample call: a failure of either call makes the row FAIL. */
async function measure(target: Target, seconds: number): Promise<Row> {
  try {
    await target.check();
  } catch (err) {
    return { target, figures: { ok: false, reason: `sample call before the run: ${(err as Error).message}` } };
  }
  let start = cpuTicks();
  let serverStart: Promise<number | undefined> = Promise.resolve(undefined);
  const figures = await target.load(() => {
    start = cpuTicks();
    serverStart = target.cpuSeconds();
  });
  const machine = machineCores(start, cpuTicks(), cpus().length);
  const [from, to] = await Promise.all([serverStart, target.cpuSeconds()]);
  if (!figures.ok) return { target, figures, machineCores: machine };
  const cpuMsPerCall = from !== undefined && to !== undefined ? ((to - from) * 1000) / (figures.rps * seconds) : undefined;
  try {
    await target.check();
  } catch (err) {
    return { target, figures: { ok: false, reason: `sample call after the run: ${(err as Error).message}` }, machineCores: machine };
  }
  return { target, figures, machineCores: machine, cpuMsPerCall };
}

function buildTargets(opts: PlatformOptions, grpcJs: BareServer, echo: BareServer, work: string): Target[] {
  const [grpcJsOrigin, echoOrigin] = [grpcJs.origin, echo.origin];
  const wardenCpu = () => serverCpuSeconds(opts.origin);
  const bearer = { authorization: `Bearer ${opts.accessToken}` };
  let files = 0;
  const file = (name: string, content: string | Uint8Array) => {
    const path = join(work, `${files++}-${name}`);
    writeFileSync(path, content);
    return path;
  };
  const h2 = (id: TargetId, url: string, message: Uint8Array, headers: Record<string, string>) => {
    const bodyFile = file(`${id}.grpc`, grpcEnvelope(message));
    const logFile = join(work, `${id}.h2load.log`);
    const all = { "content-type": "application/grpc", te: "trailers", ...headers };
    return (onMeasuring: () => void) => h2load({ url, bodyFile, headers: all, minDataBytes: 5 }, opts.seconds, opts.warmup, logFile, opts.signal, onMeasuring);
  };
  const wrkRun = (id: TargetId, url: string, body: string, headers: Record<string, string>) => {
    const script = file(`${id}.lua`, wrkScript(body, { "content-type": "application/json", ...headers }));
    return (onMeasuring: () => void) => wrk(url, script, opts.seconds, opts.warmup, opts.signal, onMeasuring);
  };
  const grpcRpc = <I extends DescMessage, O extends DescMessage>(
    id: TargetId,
    server: string,
    method: DescMethodUnary<I, O>,
    headers: Record<string, string>,
    ok: (out: MessageShape<O>) => boolean,
  ): Target => {
    const message = toBinary(method.input, create(method.input));
    return {
      id,
      server,
      protocol: "gRPC (h2c)",
      tool: "h2load",
      async check() {
        const out = fromBinary(method.output, await grpcCall(opts.origin, pathOf(method), message, headers));
        if (!ok(out)) throw new Error(`${method.name} answered but not with a success: ${JSON.stringify(out)}`);
      },
      load: h2(id, `${opts.origin}${pathOf(method)}`, message, headers),
      cpuSeconds: wardenCpu,
    };
  };
  // connect-web and the other Connect clients send this header; connect-node accepts calls without it too.
  const connectHeaders = { "connect-protocol-version": "1" };
  const jsonRpc = <I extends DescMessage, O extends DescMessage>(
    id: TargetId,
    server: string,
    method: DescMethodUnary<I, O>,
    headers: Record<string, string>,
    ok: (out: MessageShape<O>) => boolean,
  ): Target => ({
    id,
    server,
    protocol: "Connect JSON (HTTP/1.1)",
    tool: "wrk",
    async check() {
      const out = fromJson(method.output, (await jsonCall(opts.origin, pathOf(method), "{}", { ...connectHeaders, ...headers })) as JsonValue);
      if (!ok(out)) throw new Error(`${method.name} answered but not with a success: ${JSON.stringify(out)}`);
    },
    load: wrkRun(id, `${opts.origin}${pathOf(method)}`, "{}", { ...connectHeaders, ...headers }),
    cpuSeconds: wardenCpu,
  });
  const serving = (r: { status: ServingStatus }) => r.status === ServingStatus.SERVING;
  const valid = (r: { valid: boolean }) => r.valid;
  const echoBody = '{"ping":1}';
  return [
    {
      id: "grpc-js",
      server: "bare @grpc/grpc-js, empty unary RPC",
      protocol: "gRPC (h2c)",
      tool: "h2load",
      async check() {
        const out = await grpcCall(grpcJsOrigin, BARE_GRPC_PATH, new Uint8Array(0), {});
        if (out.length !== 0) throw new Error(`expected an empty message, got ${out.length} bytes`);
      },
      load: h2("grpc-js", `${grpcJsOrigin}${BARE_GRPC_PATH}`, new Uint8Array(0), {}),
      cpuSeconds: async () => grpcJs.cpuSeconds(),
    },
    grpcRpc("health-grpc", "Warden HealthCheck", HealthService.method.healthCheck, {}, serving),
    grpcRpc("validate-grpc", "Warden ValidateSession", SessionService.method.validateSession, bearer, valid),
    {
      id: "node-http",
      server: "bare node:http, JSON echo",
      protocol: "JSON (HTTP/1.1)",
      tool: "wrk",
      async check() {
        const out = await jsonCall(echoOrigin, "/echo", echoBody, {});
        if (JSON.stringify(out) !== echoBody) throw new Error(`echo answered ${JSON.stringify(out)}`);
      },
      load: wrkRun("node-http", `${echoOrigin}/echo`, echoBody, {}),
      cpuSeconds: async () => echo.cpuSeconds(),
    },
    jsonRpc("health-json", "Warden HealthCheck", HealthService.method.healthCheck, {}, serving),
    jsonRpc("validate-json", "Warden ValidateSession", SessionService.method.validateSession, bearer, valid),
  ];
}

const LABELS: Record<TargetId, string> = {
  "grpc-js": "bare grpc-js (gRPC)",
  "health-grpc": "Warden HealthCheck (gRPC)",
  "validate-grpc": "Warden ValidateSession (gRPC)",
  "node-http": "bare node:http (JSON)",
  "health-json": "Warden HealthCheck (Connect JSON)",
  "validate-json": "Warden ValidateSession (Connect JSON)",
};
const label = (id: TargetId) => LABELS[id];

const pct = (cores: number | undefined) => (cores === undefined ? "?" : `${(cores * 100).toFixed(0)}%`);

function printPlatformReport(rows: Row[]): void {
  const header = ["server", "protocol", "load", "requests/s", "p50 ms", "p99 ms", "server CPU ms/call", "machine CPU"];
  const body = rows.map((r) => {
    const f = r.figures;
    const load = r.target.tool === "h2load" ? "h2load -c8 -m16" : "wrk -c16 -t2";
    return f.ok
      ? [r.target.server, r.target.protocol, load, f.rps.toFixed(0), f.p50.toFixed(2), f.p99.toFixed(2), r.cpuMsPerCall?.toFixed(3) ?? "?", pct(r.machineCores)]
      : [r.target.server, r.target.protocol, load, "FAIL", "-", "-", "-", pct(r.machineCores)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ") + " |";
  console.log("");
  console.log(line(header));
  console.log("|" + widths.map((w, i) => (i < 3 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|");
  for (const b of body) console.log(line(b));
  console.log(
    `(server CPU ms/call: CPU of the server under test per answer in the measured window (Warden from its /metrics, a bare server from /proc); machine CPU: the whole machine, load generator included, ${cpus().length * 100}% = every core busy)`,
  );
  for (const r of rows) if (!r.figures.ok) console.log(`FAIL ${r.target.server}, ${r.target.protocol}: ${r.figures.reason}`);
  console.log("");
  for (const ratio of RATIOS) {
    const n = rows.find((r) => r.target.id === ratio.numerator)?.figures;
    const d = rows.find((r) => r.target.id === ratio.denominator)?.figures;
    const name = `${label(ratio.numerator)} / ${label(ratio.denominator)}`;
    if (!n || !d) {
      console.log(`${name}: n/a (not run)`);
      continue;
    }
    if (!n.ok || !d.ok) {
      console.log(`${name}: FAIL (${!n.ok ? label(ratio.numerator) : label(ratio.denominator)} had errors)   [${ratio.why}]`);
      continue;
    }
    const value = n.rps / d.rps;
    const nc = rows.find((r) => r.target.id === ratio.numerator)?.cpuMsPerCall;
    const dc = rows.find((r) => r.target.id === ratio.denominator)?.cpuMsPerCall;
    const byCost = nc && dc ? `; by server CPU per call ${((dc / nc) * 100).toFixed(1)}%` : "";
    console.log(
      `${name} = ${(value * 100).toFixed(1)}%  (target >= ${(ratio.target * 100).toFixed(0)}%)  ${value >= ratio.target ? "PASS" : "FAIL"}   [${ratio.why}; p99 ${n.p99.toFixed(2)} ms vs ${d.p99.toFixed(2)} ms${byCost}]`,
    );
  }
}
