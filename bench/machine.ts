import { readdirSync, readFileSync } from "node:fs";

/** Busy and total jiffies of all CPUs from /proc/stat (Linux); undefined elsewhere. */
export function cpuTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Busy share of the whole machine between two samples, in cores (2.0 = both cores of two busy). */
export function machineCores(a: ReturnType<typeof cpuTicks>, b: ReturnType<typeof cpuTicks>, cores: number): number | undefined {
  if (!a || !b || b.total === a.total) return undefined;
  return ((b.busy - a.busy) / (b.total - a.total)) * cores;
}

/** Samples the machine for `ms` and returns how many cores were busy. */
export async function machineLoad(ms: number, cores: number): Promise<number | undefined> {
  const a = cpuTicks();
  await new Promise((r) => setTimeout(r, ms));
  return machineCores(a, cpuTicks(), cores);
}

/**
 * CPU seconds used so far by the local PostgreSQL backends serving `database` (their command
 * line reads "postgres: <cluster>: <user> <database> ..."). Linux only; undefined when none
 * are visible, e.g. when the database runs on another host.
 */
export function postgresCpuSeconds(database: string): number | undefined {
  let ticks = 0;
  let found = false;
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return undefined;
  }
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      if (comm !== "postgres" && !comm.startsWith("postgres")) continue;
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(` ${database} `)) continue;
      const f = stat.slice(close + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
      found = true;
    } catch {
      /* exited meanwhile */
    }
  }
  return found ? ticks / CLOCK_TICKS : undefined;
}

/** USER_HZ: 100 on every mainstream Linux build. */
const CLOCK_TICKS = 100;
