import type { Database } from "./db/client.js";
import type { Metrics } from "./metrics.js";

/** Something the server cannot work without, other than the database (Redis for the brute-force counters). */
export interface Dependency {
  name: string;
  ping(timeoutMs: number): Promise<boolean>;
}

export interface ReadinessStatus {
  ready: boolean;
  /** "up" or "down" per dependency: database, and redis when the brute-force engine uses it. */
  dependencies: Record<string, "up" | "down">;
}

/** Readiness of the database and the other dependencies, pinged at most once a second however often it is asked. */
export class Readiness {
  private last = 0;
  private status: ReadinessStatus = { ready: false, dependencies: {} };
  private inflight: Promise<ReadinessStatus> | undefined;

  constructor(
    private readonly database: Database,
    private readonly metrics?: Metrics,
    private readonly others: Dependency[] = [],
  ) {}

  async check(): Promise<boolean> {
    return (await this.details()).ready;
  }

  details(): Promise<ReadinessStatus> {
    if (Date.now() - this.last < 1000) return Promise.resolve(this.status);
    this.inflight ??= this.ping().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async ping(): Promise<ReadinessStatus> {
    const started = performance.now();
    const [database, ...others] = await Promise.all([this.database.ping(2000), ...this.others.map((d) => d.ping(2000).catch(() => false))]);
    this.metrics?.dbUp.set(database ? 1 : 0);
    this.metrics?.dbPingSeconds.set((performance.now() - started) / 1000);
    const dependencies: Record<string, "up" | "down"> = { database: database ? "up" : "down" };
    this.others.forEach((d, i) => (dependencies[d.name] = others[i] ? "up" : "down"));
    this.status = { ready: Object.values(dependencies).every((s) => s === "up"), dependencies };
    this.last = Date.now();
    return this.status;
  }
}
