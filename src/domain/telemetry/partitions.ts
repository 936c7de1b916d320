import type { Clock } from "../../clock.js";
import type { DailyPartition, TelemetryStore } from "../store/telemetry-store.js";

const DAY_MS = 86_400_000;
/** Partitions made ahead: yesterday (late events near midnight) through three days from now. */
const DAYS_BEHIND = 1;
const DAYS_AHEAD = 3;
const RETRY_MS = 60_000;

/** The daily partition (UTC) holding `day`: `telemetry_events_pYYYYMMDD`, [00:00, next 00:00). */
export function dailyPartitionOf(day: Date): DailyPartition {
  const from = new Date(Math.floor(day.getTime() / DAY_MS) * DAY_MS);
  const ymd = from.toISOString().slice(0, 10).replace(/-/g, "");
  return { name: `telemetry_events_p${ymd}`, from, to: new Date(from.getTime() + DAY_MS) };
}

/** When the partition named so ends, or undefined for a name that is not a daily partition. */
export function dailyPartitionEnd(name: string): Date | undefined {
  const m = /^telemetry_events_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  if (!m) return undefined;
  const from = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isNaN(from) ? undefined : new Date(from + DAY_MS);
}

export interface MaintenanceReport {
  created: string[];
  /** Days whose rows sit in the default partition already: PostgreSQL refuses a partition for them. */
  skipped: string[];
  dropped: string[];
  defaultRowsDeleted: number;
}

export interface PartitionLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface TelemetryPartitionsDeps {
  store: { telemetry: Pick<TelemetryStore, "listDailyPartitions" | "createDailyPartition" | "dropDailyPartition" | "deleteDefaultPartitionBefore"> };
  clock: Clock;
  retentionDays: number;
  log: PartitionLog;
  /** How often maintenance runs after the first time (at start). */
  intervalMs?: number;
}

/**
 * Keeps telemetry_events in daily partitions: makes them a few days ahead, so that events land
 * in a partition rather than the default one, and drops whole days past retention (no row by
 * row delete, no vacuum debt). Rows the default partition caught (times from before the
 * partitions were made) are deleted by age. Every instance runs this; the store serializes
 * their DDL.
 */
export class TelemetryPartitions {
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<MaintenanceReport | undefined> | undefined;

  constructor(private readonly d: TelemetryPartitionsDeps) {}

  /** Runs now, then every interval (an hour by default) until stop(); failures are logged, not thrown. */
  start(): void {
    this.stopped = false;
    void this.runLogged();
    this.timer = setInterval(() => void this.runLogged(), this.d.intervalMs ?? 3_600_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.retry) clearTimeout(this.retry);
    this.timer = this.retry = undefined;
  }

  /** One pass at the clock's time. A pass already under way is awaited instead of starting another. */
  async runOnce(): Promise<MaintenanceReport> {
    while (this.running) await this.running.catch(() => undefined);
    const pass = this.pass();
    this.running = pass;
    try {
      return await pass;
    } finally {
      this.running = undefined;
    }
  }

  private async runLogged(): Promise<void> {
    if (this.running) return;
    try {
      const r = await this.runOnce();
      if (r.created.length || r.dropped.length || r.skipped.length || r.defaultRowsDeleted) this.d.log.info({ ...r }, "telemetry partitions maintained");
    } catch (err) {
      if (this.stopped) return;
      this.d.log.warn({ err: { message: (err as Error)?.message } }, "telemetry partition maintenance failed; retrying in a minute");
      // A lock wait that timed out, a database restart: the next hour is too late for today's partition.
      if (!this.retry) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          void this.runLogged();
        }, RETRY_MS);
        this.retry.unref();
      }
    }
  }

  private async pass(): Promise<MaintenanceReport> {
    const now = this.d.clock.now();
    const store = this.d.store.telemetry;
    const report: MaintenanceReport = { created: [], skipped: [], dropped: [], defaultRowsDeleted: 0 };
    const existing = new Set(await store.listDailyPartitions());
    for (let day = -DAYS_BEHIND; day <= DAYS_AHEAD && !this.stopped; day++) {
      const p = dailyPartitionOf(new Date(now.getTime() + day * DAY_MS));
      if (existing.has(p.name)) continue;
      const outcome = await store.createDailyPartition(p);
      if (outcome === "created") report.created.push(p.name);
      else if (outcome === "held") report.skipped.push(p.name);
    }
    const cutoff = new Date(now.getTime() - this.d.retentionDays * DAY_MS);
    for (const name of existing) {
      if (this.stopped) break;
      const end = dailyPartitionEnd(name);
      if (!end || end.getTime() > cutoff.getTime()) continue;
      await store.dropDailyPartition(name);
      report.dropped.push(name);
    }
    if (!this.stopped) report.defaultRowsDeleted = await store.deleteDefaultPartitionBefore(cutoff);
    return report;
  }
}
