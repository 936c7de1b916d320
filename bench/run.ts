/**
 * `npm run bench`: starts the real server against a scratch PostgreSQL database, drives it
 * over HTTP/2 (Connect protocol, binary protobuf) and prints one table. Knobs: bench/README.md.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { H2Pool } from "./h2-client.js";
import { percentile, runLoad, type Operation } from "./load.js";
import { cpuTicks, machineCores, machineLoad, postgresCpuSeconds } from "./machine.js";
import { PgActivitySampler, type PgActivity } from "./pg-activity.js";
import { createFixtures, RATIOS as CORE_RATIOS, SCENARIOS as CORE_SCENARIOS, THROUGHPUTS, type Ratio, type Scenario } from "./scenarios.js";
import { ZERO_TRUST_RATIOS, ZERO_TRUST_SCENARIOS } from "./zero-trust-scenarios.js";
import { BENCH_ADMIN, SSH_RATIOS, SSH_SCENARIOS } from "./ssh-scenarios.js";
import { AGENT_RATIOS, AGENT_SCENARIOS } from "./agent-scenarios.js";
import { AUDIT_RATIOS, AUDIT_SCENARIOS } from "./audit-scenarios.js";
import { RECORDING_SCENARIOS, RECORDING_THROUGHPUTS } from "./recording-scenarios.js";
import { PLATFORM_NAME, runPlatform } from "./platform.js";

const SCENARIOS: Scenario[] = [...CORE_SCENARIOS, ...ZERO_TRUST_SCENARIOS, ...SSH_SCENARIOS, ...AGENT_SCENARIOS, ...AUDIT_SCENARIOS, ...RECORDING_SCENARIOS];
const RATIOS: Ratio[] = [...CORE_RATIOS, ...ZERO_TRUST_RATIOS, ...SSH_RATIOS, ...AGENT_RATIOS, ...AUDIT_RATIOS];
import { createScratchDatabase, serverCpuSeconds, startServer, type ScratchDatabase, type ServerProcess } from "./server.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function num(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v.trim() === "") return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return n;
}

const settings = {
  databaseUrl: process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test",
  seconds: num("BENCH_SECONDS", 8),
  warmup: num("BENCH_WARMUP_SECONDS", 2),
  concurrency: Math.round(num("BENCH_CONCURRENCY", 64)),
  connections: Math.round(num("BENCH_CONNECTIONS", 4)),
  rounds: Math.round(num("BENCH_ROUNDS", 1)),
  platformSeconds: num("BENCH_PLATFORM_SECONDS", 10),
  only: (process.env.BENCH_ONLY ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean),
  cpuProfDir: process.env.BENCH_SERVER_CPU_PROF ? resolve(process.env.BENCH_SERVER_CPU_PROF) : undefined,
  serverLogLevel: process.env.BENCH_SERVER_LOG_LEVEL || "warn",
  serverDir: process.env.BENCH_SERVER_DIR ? resolve(process.env.BENCH_SERVER_DIR) : repoRoot,
  serverEnv: parseEnvList(process.env.BENCH_SERVER_ENV ?? ""),
};

/** "A=1 B=2" -> { A: "1", B: "2" }. */
function parseEnvList(list: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of list.split(/\s+/).filter(Boolean)) {
    const i = pair.indexOf("=");
    if (i <= 0) throw new Error(`BENCH_SERVER_ENV: "${pair}" is not NAME=value`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

interface Row {
  scenario: Scenario;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU used during the measured window, in cores (1.0 = one core busy). */
  serverCores?: number;
  benchCores: number;
  /** Local PostgreSQL processes. */
  postgresCores?: number;
  /** The whole machine (server, bench, PostgreSQL and anything else running). */
  machineCores?: number;
  /** Database-side view of the window (server scenarios only). */
  pg?: PgActivity;
  firstError?: string;
}

let server: ServerProcess | undefined;
let scratch: ScratchDatabase | undefined;
let pool: H2Pool | undefined;
let backchannelPool: H2Pool | undefined;
let sampler: PgActivitySampler | undefined;
/** Aborted on Ctrl-C / SIGTERM: the load stops before the server and database go away. */
const stopping = new AbortController();

async function cleanup(): Promise<void> {
  pool?.close();
  pool = undefined;
  backchannelPool?.close();
  backchannelPool = undefined;
  await sampler?.close();
  sampler = undefined;
  const s = server;
  server = undefined;
  await s?.stop().catch((err) => console.error(`bench: stopping the server failed: ${(err as Error).message}`));
  const d = scratch;
  scratch = undefined;
  await d?.drop().catch((err) => console.error(`bench: dropping ${d.name} failed: ${(err as Error).message}`));
}

// Whatever happens, the child does not outlive the bench and the scratch database is dropped.
process.on("exit", () => server?.killNow());
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, () => {
    console.error(`\nbench: ${sig}, cleaning up`);
    stopping.abort();
    void cleanup().finally(() => process.exit(130));
  });

async function main(): Promise<void> {
  const scenarios = settings.only.length ? SCENARIOS.filter((s) => settings.only.some((o) => s.name.toLowerCase().includes(o))) : SCENARIOS;
  const platform = !settings.only.length || settings.only.some((o) => PLATFORM_NAME.includes(o));
  if (scenarios.length === 0 && !platform)
    throw new Error(`BENCH_ONLY=${process.env.BENCH_ONLY} matches no scenario (${[...SCENARIOS.map((s) => s.name), PLATFORM_NAME].join(", ")})`);

  const cpu = cpus();
  console.log(`warden bench  ${new Date().toISOString()}`);
  console.log(
    `machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}`,
  );
  console.log(
    `load: ${settings.concurrency} concurrent streams over ${settings.connections} HTTP/2 connections (Connect protocol, application/proto), ${settings.warmup}s warm-up + ${settings.seconds}s measured per scenario`,
  );

  const idle = await machineLoad(1000, cpu.length);
  if (idle !== undefined)
    console.log(
      `machine before start: ${(idle * 100).toFixed(0)}% of one core busy${idle > 0.25 ? "  WARNING: other processes are using the CPU; numbers will be low and noisy (try BENCH_ROUNDS=3)" : ""}`,
    );

  scratch = await createScratchDatabase(settings.databaseUrl);
  if (settings.cpuProfDir) mkdirSync(settings.cpuProfDir, { recursive: true });
  const backchannelBasic = { username: "bench-mail-server", password: randomBytes(18).toString("base64url") };
  server = await startServer({
    repoRoot: settings.serverDir,
    databaseUrl: scratch.url,
    adminEmail: BENCH_ADMIN.email,
    adminPassword: BENCH_ADMIN.password,
    nodeArgs: settings.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${settings.cpuProfDir}`] : undefined,
    logLevel: settings.serverLogLevel,
    extraEnv: settings.serverEnv,
    backchannelBasic,
  });
  const extra = Object.keys(settings.serverEnv).length
    ? `, ${Object.entries(settings.serverEnv)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}`
    : "";
  const from = settings.serverDir === repoRoot ? "" : ` from ${settings.serverDir}`;
  console.log(
    `server: ${server.origin}, backchannel ${server.backchannelOrigin ?? "none"} (tsx src/main.ts${from}, PostgreSQL database ${scratch.name}, log level ${settings.serverLogLevel}${extra})\n`,
  );

  pool = await H2Pool.open(server.origin, settings.connections);
  if (server.backchannelOrigin) backchannelPool = await H2Pool.open(server.backchannelOrigin, settings.connections);
  sampler = new PgActivitySampler(settings.databaseUrl, scratch.name);
  const backchannel = backchannelPool && {
    pool: backchannelPool,
    authorization: `Basic ${Buffer.from(`${backchannelBasic.username}:${backchannelBasic.password}`).toString("base64")}`,
  };
  const ctx = await createFixtures(pool, settings.concurrency, backchannel);

  const best = new Map<Scenario, Row>();
  const rounds: Map<Scenario, Row>[] = [];
  const ops = new Map<Scenario, Operation>();
  for (let round = 1; round <= settings.rounds && !stopping.signal.aborted; round++) {
    rounds.push(new Map());
    for (const scenario of scenarios) {
      if (stopping.signal.aborted) return;
      process.stdout.write(`${settings.rounds > 1 ? `[round ${round}/${settings.rounds}] ` : ""}${scenario.name} ... `);
      if (!ops.has(scenario)) ops.set(scenario, await scenario.prepare(ctx));
      const row = await measure(scenario, ops.get(scenario)!, server.origin, cpu.length, scratch.name, sampler);
      if (stopping.signal.aborted) return;
      const checked = await scenario.verify?.(ctx).catch((err: unknown) => {
        row.errors++;
        row.firstError ??= `after the window: ${err instanceof Error ? err.message : String(err)}`;
      });
      console.log(
        `${row.rps.toFixed(1)} req/s${row.errors ? `, ${row.errors} errors (first: ${row.firstError})` : ""}${row.machineCores !== undefined ? `, machine ${(row.machineCores * 100).toFixed(0)}% busy` : ""}${checked ? `; ${checked}` : ""}`,
      );
      rounds.at(-1)!.set(scenario, row);
      const prev = best.get(scenario);
      if (!prev || row.rps > prev.rps) best.set(scenario, row);
    }
  }
  const rows = scenarios.map((s) => best.get(s)!);
  if (rows.length) printReport(rows, rounds);
  if (platform && !stopping.signal.aborted) {
    const ran = await runPlatform({
      origin: server.origin,
      accessToken: ctx.accessToken,
      repoRoot,
      seconds: settings.platformSeconds,
      warmup: settings.warmup,
      logLevel: settings.serverLogLevel,
      signal: stopping.signal,
    });
    if (!ran) process.exitCode = 1;
  }
}

/** One scenario: warm-up, then the measured window, with CPU use sampled at both edges of it. */
async function measure(scenario: Scenario, op: Operation, origin: string, cores: number, dbName: string, pgSampler: PgActivitySampler): Promise<Row> {
  let srvStartP: Promise<number | undefined> = Promise.resolve(undefined);
  let benchStart = process.cpuUsage();
  let machineStart = cpuTicks();
  let pgStart = postgresCpuSeconds(dbName);
  const startTimer = setTimeout(() => {
    srvStartP = serverCpuSeconds(origin);
    benchStart = process.cpuUsage();
    machineStart = cpuTicks();
    pgStart = postgresCpuSeconds(dbName);
    if (scenario.where === "server") pgSampler.start();
  }, settings.warmup * 1000);
  const result = await runLoad(op, settings.concurrency, settings.warmup, settings.seconds, stopping.signal);
  clearTimeout(startTimer);
  const benchUsed = process.cpuUsage(benchStart);
  const machineEnd = cpuTicks();
  const pgEnd = postgresCpuSeconds(dbName);
  const pg = pgSampler.stop();
  const [srvStart, srvEnd] = await Promise.all([srvStartP, serverCpuSeconds(origin)]);
  return {
    scenario,
    rps: result.ok / result.seconds,
    p50: percentile(result.latencies, 50),
    p99: percentile(result.latencies, 99),
    errors: result.errors,
    serverCores: srvStart !== undefined && srvEnd !== undefined ? (srvEnd - srvStart) / result.seconds : undefined,
    benchCores: (benchUsed.user + benchUsed.system) / 1e6 / result.seconds,
    postgresCores: pgStart !== undefined && pgEnd !== undefined ? (pgEnd - pgStart) / result.seconds : undefined,
    machineCores: machineCores(machineStart, machineEnd, cores),
    pg,
    firstError: result.firstError,
  };
}

/** CPU milliseconds per successful call: server + PostgreSQL for RPCs, this process for local work. */
function cpuPerRequest(r: Row): number | undefined {
  const cores = r.scenario.where === "local" ? r.benchCores : r.serverCores === undefined ? undefined : r.serverCores + (r.postgresCores ?? 0);
  if (cores === undefined || r.rps === 0) return undefined;
  return (cores * 1000) / r.rps;
}

const pct = (cores: number | undefined) => (cores === undefined ? "?" : `${(cores * 100).toFixed(0)}%`);

/**
 * The table keeps each scenario's best round; with several rounds each ratio is also given as
 * the median of the ratios within a round, whose two windows ran minutes apart at most, so a
 * machine that speeds up and slows down (a shared host) moves both sides together.
 */
function printReport(rows: Row[], rounds: Map<Scenario, Row>[]): void {
  const header = ["scenario", "requests/s", "p50 ms", "p99 ms", "errors", "CPU ms/req", "server CPU", "pg CPU", "bench CPU", "machine CPU", "pg lock waits"];
  const body = rows.map((r) => [
    r.scenario.name,
    r.rps.toFixed(1),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    String(r.errors),
    cpuPerRequest(r)?.toFixed(3) ?? "?",
    r.scenario.where === "local" ? "-" : pct(r.serverCores),
    r.scenario.where === "local" ? "-" : pct(r.postgresCores),
    pct(r.benchCores),
    pct(r.machineCores),
    r.pg ? r.pg.lockWaiting.toFixed(1) : "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ") + " |";
  console.log("");
  console.log(line(header));
  console.log("|" + widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|");
  for (const b of body) console.log(line(b));
  console.log(
    `(CPU: share of one core during the measured window, ${cpus().length * 100}% = every core busy. server = the warden process, pg = the local PostgreSQL backends of the scratch database, bench = this load generator, machine = everything. CPU ms/req = (server + pg) CPU per call, bench CPU for local scenarios: other load on the machine disturbs it less than requests/s. pg lock waits = mean number of the scratch database's backends waiting for a lock.${settings.rounds > 1 ? ` Best of ${settings.rounds} rounds.` : ""})`,
  );

  for (const r of rows) if (r.firstError) console.log(`first error in ${r.scenario.name}: ${r.firstError}`);

  console.log("");
  for (const ratio of RATIOS) {
    const label = `${ratio.numerator} / ${ratio.denominator}`;
    const pair = ratioPair(rows, ratio);
    if (!pair) {
      console.log(`${label}: n/a (scenario not run)`);
      continue;
    }
    const [n, d] = pair;
    const value = n.rps / d.rps;
    const pass = value >= ratio.target && n.errors === 0;
    const nc = cpuPerRequest(n);
    const dc = cpuPerRequest(d);
    const byCost = nc && dc ? `; by CPU cost per call ${((dc / nc) * 100).toFixed(1)}%` : "";
    console.log(
      `${label} = ${(value * 100).toFixed(1)}%  (target >= ${(ratio.target * 100).toFixed(0)}%)  ${pass ? "PASS" : "FAIL"}${n.errors ? " (had errors)" : ""}   [${ratio.why}${byCost}${perRoundRatios(rounds, ratio)}]`,
    );
  }
  printThroughputs(rows);
}

/** Absolute targets in units of work: calls/s times what one call carries (events for BatchEmitTelemetry). */
function printThroughputs(rows: Row[]): void {
  for (const t of [...THROUGHPUTS, ...RECORDING_THROUGHPUTS]) {
    const r = rows.find((row) => row.scenario.name === t.scenario);
    if (!r) continue;
    const rate = r.rps * t.perCall;
    const pass = rate >= t.target && r.errors === 0;
    const cpu = cpuPerRequest(r);
    const perUnit = cpu !== undefined ? `; CPU ${((cpu * 1000) / t.perCall).toFixed(1)} µs per ${t.unit.replace(/s$/, "")}` : "";
    console.log(
      `${t.scenario} = ${rate.toFixed(0)} ${t.unit}/s  (target >= ${t.target} ${t.unit}/s)  ${pass ? "PASS" : "FAIL"}${r.errors ? " (had errors)" : ""}   [${t.why}; ${r.rps.toFixed(1)} calls/s x ${t.perCall}${perUnit}]`,
    );
  }
}

/** The numerator's and the denominator's rows, when both ran and the denominator had calls. */
function ratioPair(rows: Row[], ratio: Ratio): [Row, Row] | undefined {
  const n = rows.find((r) => r.scenario.name === ratio.numerator);
  const d = rows.find((r) => r.scenario.name === ratio.denominator);
  return n && d && d.rps > 0 ? [n, d] : undefined;
}

/** "; per round: median 63.2% (58.0-66.1%)", when more than one round ran both scenarios. */
function perRoundRatios(rounds: Map<Scenario, Row>[], ratio: Ratio): string {
  const values: number[] = [];
  for (const round of rounds) {
    const pair = ratioPair([...round.values()], ratio);
    if (pair) values.push(pair[0].rps / pair[1].rps);
  }
  if (values.length < 2) return "";
  values.sort((a, b) => a - b);
  const mid = values.length / 2;
  const median = values.length % 2 ? values[Math.floor(mid)]! : (values[mid - 1]! + values[mid]!) / 2;
  const percent = (v: number) => (v * 100).toFixed(1);
  return `; per round: median ${percent(median)}% (${percent(values[0]!)}-${percent(values.at(-1)!)}%)`;
}

main()
  .catch((err) => {
    console.error(`\nbench failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    if (settings.cpuProfDir) console.log(`\nserver CPU profiles: ${settings.cpuProfDir}`);
  });
