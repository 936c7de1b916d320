/**
 * The platform comparison's load generators, run as child processes: h2load (nghttp2-client)
 * for gRPC over h2c and wrk for HTTP/1.1. Each run returns requests/s, p50 and p99, or the
 * reason it does not count: an answer that is not a success makes the row FAIL, never a figure.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

export const INSTALL_HINT = "install them with: apt-get install nghttp2-client wrk";

/** A measured row: figures only when every answer was a success. */
export type LoadFigures = { ok: true; rps: number; p50: number; p99: number } | { ok: false; reason: string };

/** True when `tool` runs (`h2load --version`, `wrk --version`). */
export function hasTool(tool: "h2load" | "wrk"): boolean {
  const r = spawnSync(tool, ["--version"], { stdio: "ignore" });
  // wrk --version prints its usage and exits 1; only a missing binary sets `error`.
  return r.error === undefined;
}

/** Runs a command to its end and returns its stdout (stderr joined to it in an error). */
function run(command: string, args: string[], signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], signal });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    child.once("error", reject);
    child.once("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited with ${code}: ${(err || out).trim().slice(-400)}`))));
  });
}

export interface H2loadTarget {
  url: string;
  /** File whose bytes are every request's body (a gRPC envelope). */
  bodyFile: string;
  headers: Record<string, string>;
  /** Every success carries at least this many DATA bytes (a gRPC answer: 5, its envelope header). */
  minDataBytes: number;
}

/**
 * `h2load -c8 -m16 -D <seconds> --warm-up-time <warmup>`. h2load prints no percentiles, so
 * latencies come from its per-request log (measured window only). It sees HTTP status, not
 * grpc-status: a gRPC error is HTTP 200 with no DATA (trailers only), hence the data check;
 * the caller also makes a decoded sample call before and after.
 */
export async function h2load(
  target: H2loadTarget,
  seconds: number,
  warmup: number,
  logFile: string,
  signal: AbortSignal,
  onMeasuring: () => void,
): Promise<LoadFigures> {
  const headerArgs = Object.entries(target.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
  const args = ["-c8", "-m16", "-D", String(seconds), `--warm-up-time=${warmup}`, "-d", target.bodyFile, ...headerArgs, `--log-file=${logFile}`, target.url];
  let out: string;
  // h2load says nothing when its warm-up ends; the timer is off by its connection set-up only.
  const timer = setTimeout(onMeasuring, warmup * 1000);
  try {
    out = await run("h2load", args, signal);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
  const rps = /finished in [0-9.]+m?s, ([0-9.]+) req\/s/.exec(out);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const data = /traffic: .* \((\d+)\) data/.exec(out);
  if (!rps || !req || !codes || !data) return { ok: false, reason: `h2load output not understood:\n${out.slice(-600)}` };
  const [succeeded, failed, errored, timedOut] = [Number(req[4]), Number(req[5]), Number(req[6]), Number(req[7])];
  const [c3, c4, c5] = [Number(codes[2]), Number(codes[3]), Number(codes[4])];
  if (succeeded === 0) return { ok: false, reason: "h2load: no request succeeded" };
  if (failed || errored || timedOut || c3 || c4 || c5)
    return { ok: false, reason: `h2load: ${failed} failed, ${errored} errored, ${timedOut} timed out; status 3xx ${c3}, 4xx ${c4}, 5xx ${c5}` };
  if (Number(data[1]) < succeeded * target.minDataBytes)
    return { ok: false, reason: `h2load: ${data[1]} DATA bytes for ${succeeded} answers; some were errors without a message (trailers only)` };
  const latencies = h2loadLatencies(logFile);
  if (latencies.bad) return { ok: false, reason: `h2load log: ${latencies.bad} answers with an HTTP status other than 200` };
  return { ok: true, rps: Number(rps[1]), p50: percentile(latencies.ms, 50), p99: percentile(latencies.ms, 99) };
}

/**
 * h2load's log: start µs, HTTP status, µs to the end of the response. Calls in flight when the
 * warm-up ended are logged with status 0 and are left out.
 */
function h2loadLatencies(file: string): { ms: Float64Array; bad: number } {
  const lines = readFileSync(file, "utf8").split("\n");
  const ms = new Float64Array(lines.length);
  let n = 0;
  let bad = 0;
  for (const line of lines) {
    const [, status, micros] = line.split("\t");
    if (status === undefined || micros === undefined || status === "0") continue;
    if (status !== "200") bad++;
    ms[n++] = Number(micros) / 1000;
  }
  return { ms: ms.subarray(0, n).sort(), bad };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * `wrk -c16 -t2 -d<seconds>s --latency -s <script>`, after a discarded warm-up run of the same
 * kind. wrk counts only socket errors and "Non-2xx or 3xx responses"; any of them fails the row.
 */
export async function wrk(url: string, script: string, seconds: number, warmup: number, signal: AbortSignal, onMeasuring: () => void): Promise<LoadFigures> {
  const base = ["-c16", "-t2", "--latency", "-s", script];
  let out: string;
  try {
    await run("wrk", [...base, `-d${warmup}s`, url], signal);
    onMeasuring();
    out = await run("wrk", [...base, `-d${seconds}s`, url], signal);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  const rps = /Requests\/sec:\s+([0-9.]+)/.exec(out);
  const total = /(\d+) requests in /.exec(out);
  const p50 = /^\s+50%\s+([0-9.]+)(us|ms|s)\s*$/m.exec(out);
  const p99 = /^\s+99%\s+([0-9.]+)(us|ms|s)\s*$/m.exec(out);
  if (!rps || !total || !p50 || !p99) return { ok: false, reason: `wrk output not understood:\n${out.slice(-600)}` };
  if (Number(total[1]) === 0) return { ok: false, reason: "wrk: no request completed" };
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socket = /Socket errors: (.*)/.exec(out);
  if (non2xx || socket)
    return {
      ok: false,
      reason: `wrk: ${non2xx ? `${non2xx[1]} answers not 2xx/3xx` : ""}${non2xx && socket ? "; " : ""}${socket ? `socket errors ${socket[1]}` : ""}`,
    };
  return { ok: true, rps: Number(rps[1]), p50: toMs(p50), p99: toMs(p99) };
}

function toMs(m: RegExpExecArray): number {
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
}

/** A wrk script: POST `body` with `headers` on every request. */
export function wrkScript(body: string, headers: Record<string, string>): string {
  const lua = (s: string) => JSON.stringify(s); // a JSON string literal is a valid Lua one for this ASCII
  return [`wrk.method = "POST"`, `wrk.body = ${lua(body)}`, ...Object.entries(headers).map(([k, v]) => `wrk.headers[${lua(k)}] = ${lua(v)}`), ""].join("\n");
}

/** The first line of the tool's `--version`, printed above the comparison. */
export function toolVersion(tool: "h2load" | "wrk"): string {
  const r = spawnSync(tool, ["--version"], { encoding: "utf8" });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.split("\n")[0]!.trim();
}
