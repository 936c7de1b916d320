import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll } from "vitest";
import { ADMIN_EMAIL, ADMIN_PASSWORD } from "./test-app.js";

/** The repository root: the server runs from here so that tsx, drizzle/ and proto/ resolve. */
export const REPO_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
/** How long a start may take: tens of seconds when a 2-core machine is busy with other suites. */
export const START_TIMEOUT_MS = 120_000;
/** For a test or hook that starts servers itself. */
export const SLOW_TEST = { timeout: 2 * START_TIMEOUT_MS + 30_000 };
export const TEST_MASTER_KEY = "e2e-master-key-0123456789abcdef0123456789";

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  /** host:port from the "warden listening" line, e.g. 127.0.0.1:41234 (0.0.0.0:41234 when bound to all). */
  address: string;
  port: number;
  /** http(s)://127.0.0.1:<port>, reachable even when the server listens on 0.0.0.0. */
  baseUrl: string;
  /** The backchannel listener's host:port, when it is enabled. */
  backchannelAddress?: string;
  dataDir: string;
  stdout(): string;
  stderr(): string;
  /** stdout parsed as JSON lines; throws if a line is not one JSON object. */
  logLines(): Record<string, unknown>[];
  /** Resolves when the child has exited (by itself or because it was stopped). */
  exited: Promise<Exit>;
  /** Resolves once `predicate` holds for some stdout log line; rejects after timeoutMs. */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<Exit>;
  /** SIGKILL right away. */
  kill(): Promise<Exit>;
  /** Kills the child if needed and removes a data directory this helper created. */
  dispose(): Promise<void>;
}

export interface StartOptions {
  /** Extra or overriding environment; a value of undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** Reuse a data directory (e.g. to restart on the same embedded database); not removed on dispose. */
  dataDir?: string;
  /** URL scheme for baseUrl. Defaults to https when WARDEN_TLS_CERT_FILE is set. */
  scheme?: "http" | "https";
  startTimeoutMs?: number;
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** Environment for a child server: nothing inherited that could point it elsewhere. */
function childEnv(dataDir: string, extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith("WARDEN_") && k !== "DATABASE_URL" && !k.startsWith("VITEST") && k !== "NODE_OPTIONS") env[k] = v;
  Object.assign(env, {
    WARDEN_ADDR: "127.0.0.1:0",
    // Many servers run at once: each takes a free port for its backchannel too.
    WARDEN_BACKCHANNEL_ADDRESS: "127.0.0.1:0",
    WARDEN_DATA_DIR: dataDir,
    WARDEN_LOG_LEVEL: "info",
    WARDEN_MASTER_KEY: TEST_MASTER_KEY,
    WARDEN_ADMIN_EMAIL: ADMIN_EMAIL,
    WARDEN_ADMIN_PASSWORD: ADMIN_PASSWORD,
  });
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function makeTempDir(prefix = "warden-e2e-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

interface Spawned {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  exited: Promise<Exit>;
}

/**
 * Preloaded into the child: when the test process dies without cleaning up (its end of the
 * stdin pipe closes), the server kills itself instead of living on as an orphan.
 */
const ORPHAN_WATCHDOG =
  "data:text/javascript," +
  encodeURIComponent(
    'process.stdin.on("end",()=>process.kill(process.pid,"SIGKILL"));process.stdin.on("error",()=>{});process.stdin.resume();process.stdin.unref();',
  );

function spawnServer(env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(process.execPath, ["--import", ORPHAN_WATCHDOG, "--import", "tsx", "src/main.ts"], {
    cwd: REPO_ROOT,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  live.add(child);
  const out = { stdout: "", stderr: "" };
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out.stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out.stderr += d));
  const exited = new Promise<Exit>((resolve) => {
    // "close" comes after "exit" once stdout and stderr are drained, so the last lines are captured.
    child.once("close", (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, out, exited };
}

function parseLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => {
      const v = JSON.parse(l) as unknown;
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`log line is not a JSON object: ${l}`);
      return v as Record<string, unknown>;
    });
}

/** Complete lines parsed leniently (used while waiting; logLines() is the strict check). */
function tryParseLines(text: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const l of text.split("\n").slice(0, -1)) {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      /* not a JSON line */
    }
  }
  return lines;
}

async function poll<T>(fn: () => T | undefined, timeoutMs: number, what: () => string, abort?: Promise<unknown>): Promise<T> {
  let stop = false;
  abort?.then(() => (stop = true));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (stop) throw new Error(`server exited while waiting for ${what()}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Starts `node --import tsx src/main.ts` with its own data directory and a free port, and
 * resolves once it logs "warden listening".
 */
export async function startServerProcess(opts: StartOptions = {}): Promise<ServerProcess> {
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? makeTempDir();
  const env = childEnv(dataDir, opts.env ?? {});
  const { child, out, exited } = spawnServer(env);
  const describeOutput = () => `"warden listening"\n--- stdout ---\n${out.stdout}\n--- stderr ---\n${out.stderr}`;

  const waitForLog: ServerProcess["waitForLog"] = (predicate, timeoutMs = 10_000) =>
    poll(
      () => tryParseLines(out.stdout).find(predicate),
      timeoutMs,
      () => `a matching log line\n${out.stdout}`,
    );

  const killWith = async (signal: NodeJS.Signals, graceMs: number): Promise<Exit> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  const dispose = async () => {
    await killWith("SIGKILL", 0);
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  };

  let listening: Record<string, unknown>;
  try {
    listening = await poll(
      () => tryParseLines(out.stdout).find((l) => l.msg === "warden listening"),
      opts.startTimeoutMs ?? START_TIMEOUT_MS,
      describeOutput,
      exited,
    );
  } catch (err) {
    await dispose();
    throw err;
  }
  const address = String(listening.address);
  const port = Number(address.slice(address.lastIndexOf(":") + 1));
  const scheme = opts.scheme ?? (env.WARDEN_TLS_CERT_FILE ? "https" : "http");
  return {
    child,
    pid: child.pid!,
    address,
    port,
    baseUrl: `${scheme}://127.0.0.1:${port}`,
    backchannelAddress: typeof listening.backchannel === "string" ? listening.backchannel : undefined,
    dataDir,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    logLines: () => parseLines(out.stdout),
    exited,
    waitForLog,
    stop: (graceMs = 10_000) => killWith("SIGTERM", graceMs),
    kill: () => killWith("SIGKILL", 0),
    dispose,
  };
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs the server expecting it to exit on its own (e.g. refused configuration). */
export async function runServerToExit(env: Record<string, string | undefined>, timeoutMs = START_TIMEOUT_MS): Promise<RunResult> {
  const dataDir = makeTempDir();
  const { child, out, exited } = spawnServer(childEnv(dataDir, env));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    const exit = await exited;
    return { ...exit, ...out };
  } finally {
    clearTimeout(timer);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * One server for the enclosing describe block: started in beforeAll (options may be computed
 * there, e.g. after creating a database), killed and cleaned up in afterAll.
 */
export function useServerProcess(opts: () => StartOptions | Promise<StartOptions> = () => ({})): () => ServerProcess {
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    server = await startServerProcess(await opts());
  }, SLOW_TEST.timeout);
  afterAll(async () => {
    await server?.dispose();
  });
  return () => {
    if (!server) throw new Error("the server has not started");
    return server;
  };
}
