import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";

/** A throw-away PostgreSQL database next to the one named by `baseUrl`. */
export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createScratchDatabase(baseUrl: string): Promise<ScratchDatabase> {
  const name = `warden_bench_${randomBytes(6).toString("hex")}`;
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      const sql = postgres(baseUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
      try {
        // WITH (FORCE) (PostgreSQL 13+) ends connections a killed server may have left behind.
        await sql.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}

export interface ServerOptions {
  repoRoot: string;
  databaseUrl: string;
  adminEmail: string;
  adminPassword: string;
  /**
   * Node flags for the server, e.g. ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"]. Node refuses
   * some of them in NODE_OPTIONS, so with flags the server runs as `node <flags> --import tsx
   * src/main.ts` (the same loader, without the tsx CLI wrapper process).
   */
  nodeArgs?: string[];
  logLevel?: string;
  /** Extra settings for the server (WARDEN_*=...), applied last. */
  extraEnv?: Record<string, string>;
  /** The mail-server backchannel's Basic caller; its listener binds 127.0.0.1:0. */
  backchannelBasic: { username: string; password: string };
}

/** Failed attempts allowed at one account from one client address per window (WARDEN_LOGIN_MAX_FAILURES). */
export const LOGIN_MAX_FAILURES = 100;

export interface ServerProcess {
  origin: string;
  address: string;
  /**
   * `http://<address>` of the backchannel listener, read from the "warden listening" line;
   * undefined when the server has none (a checkout from before it, or the line never came).
   */
  backchannelOrigin?: string;
  /** The last lines the server wrote, for diagnostics. */
  output(): string;
  /** SIGTERM (the server drains and exits, writing a CPU profile if asked), then SIGKILL. */
  stop(): Promise<void>;
  /** Synchronous last resort for process exit handlers. */
  killNow(): void;
}

/**
 * Starts `tsx src/main.ts` as its own process group. The main port is picked here (older
 * checkouts, run with BENCH_SERVER_DIR, log "warden listening" only at info level, and the
 * benchmark runs the server at warn). The backchannel binds 127.0.0.1:0, and its address is read
 * from the "warden listening" line, which main.ts now writes at every level.
 */
export async function startServer(opts: ServerOptions): Promise<ServerProcess> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), "warden-bench-"));
  const [command, args] = opts.nodeArgs?.length
    ? [process.execPath, [...opts.nodeArgs, "--import", "tsx", "src/main.ts"]]
    : [join(opts.repoRoot, "node_modules/.bin/tsx"), ["src/main.ts"]];
  const child = spawn(command, args, {
    cwd: opts.repoRoot,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      // The developer's own WARDEN_* settings (a config file, Redis, dev mode) stay out of it.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WARDEN_"))),
      WARDEN_ADDR: address,
      DATABASE_URL: opts.databaseUrl,
      WARDEN_DATA_DIR: dataDir,
      WARDEN_LOG_LEVEL: opts.logLevel ?? "warn",
      WARDEN_ADMIN_EMAIL: opts.adminEmail,
      WARDEN_ADMIN_PASSWORD: opts.adminPassword,
      WARDEN_LOGIN_MAX_FAILURES: String(LOGIN_MAX_FAILURES),
      // Every call comes from 127.0.0.1: the per-address budgets must not be what is measured.
      WARDEN_NETWORK_MAX_FAILURES: "10000000",
      WARDEN_SUBNET_MAX_FAILURES: "100000000",
      // BatchEmitTelemetry runs far past the default per-organization budget over several rounds; the budget is still taken.
      WARDEN_TELEMETRY_EVENTS_PER_ORG_PER_MINUTE: "100000000",
      // Its default, 127.0.0.1:9444, would collide with any other server on this machine.
      WARDEN_BACKCHANNEL_ADDRESS: "127.0.0.1:0",
      WARDEN_BACKCHANNEL_BASIC_AUTH_ENABLED: "true",
      WARDEN_BACKCHANNEL_BASIC_AUTH_USERNAME: opts.backchannelBasic.username,
      WARDEN_BACKCHANNEL_BASIC_AUTH_PASSWORD: opts.backchannelBasic.password,
      ...opts.extraEnv,
    },
  });
  const tail: string[] = [];
  let listening: ((line: Record<string, unknown>) => void) | undefined;
  const listeningP = new Promise<Record<string, unknown>>((resolve) => (listening = resolve));
  const keeper = () => {
    let partial = "";
    return (chunk: Buffer) => {
      const lines = (partial + chunk.toString("utf8")).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        tail.push(line);
        if (line.includes('"warden listening"')) {
          try {
            listening?.(JSON.parse(line) as Record<string, unknown>);
          } catch {
            /* not the JSON line */
          }
        }
      }
      if (tail.length > 40) tail.splice(0, tail.length - 40);
    };
  };
  child.stdout!.on("data", keeper());
  child.stderr!.on("data", keeper());
  let exited = false;
  const exitedP = new Promise<void>((resolve) => child.once("exit", () => ((exited = true), resolve())));

  const killGroup = (signal: NodeJS.Signals) => {
    if (exited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      /* already gone */
    }
  };
  const proc: ServerProcess = {
    origin: `http://${address}`,
    address,
    output: () => tail.join("\n"),
    async stop() {
      killGroup("SIGTERM");
      const timer = setTimeout(() => killGroup("SIGKILL"), 15_000);
      await exitedP;
      clearTimeout(timer);
      // tsx relays the signal to its node child and exits with it; nothing of the group may stay.
      proc.killNow();
      rmSync(dataDir, { recursive: true, force: true });
    },
    killNow() {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* group gone */
      }
    },
  };

  try {
    await waitReady(proc.origin, () => exited, 90_000);
  } catch (err) {
    proc.killNow();
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n--- server output ---\n${proc.output()}`, { cause: err });
  }
  // main.ts starts the backchannel right after the main listener (which answers /readyz).
  let timer: NodeJS.Timeout | undefined;
  const line = await Promise.race([listeningP, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 5000)))]);
  clearTimeout(timer);
  const backchannel = line?.backchannel;
  if (typeof backchannel === "string" && backchannel) proc.backchannelOrigin = `http://${backchannel}`;
  return proc;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Polls GET /readyz (HTTP/1.1) until the server answers 200. */
async function waitReady(origin: string, hasExited: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error("the server exited during start-up");
    const status = await new Promise<number>((resolve) => {
      const req = http.get(`${origin}/readyz`, { agent: false, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", () => resolve(0));
      req.on("timeout", () => req.destroy());
    });
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the server did not become ready within ${timeoutMs / 1000}s`);
}

/** The server's own CPU seconds (user+system), from prom-client's default metrics on /metrics. */
export async function serverCpuSeconds(origin: string): Promise<number | undefined> {
  const text = await new Promise<string>((resolve) => {
    const req = http.get(`${origin}/metrics`, { agent: false, timeout: 2000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(body));
    });
    req.on("error", () => resolve(""));
    req.on("timeout", () => req.destroy());
  });
  const m = /^warden_process_cpu_seconds_total\s+([0-9.eE+-]+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}
