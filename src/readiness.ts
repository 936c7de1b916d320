import type { Database } from "./db/client.js";
import type { Metrics } from "./metrics.js";

/** Database readiness, pinged at most once a second however often it is asked. */
export class Readiness {
  private last = 0;
  private ok = false;
  private inflight: Promise<boolean> | undefined;

  constructor(
    private readonly database: Database,
    private readonly metrics?: Metrics,
  ) {}

  check(): Promise<boolean> {
    if (Date.now() - this.last < 1000) return Promise.resolve(this.ok);
    this.inflight ??= this.ping().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async ping(): Promise<boolean> {
    const started = performance.now();
    this.ok = await this.database.ping(2000);
    this.last = Date.now();
    this.metrics?.dbUp.set(this.ok ? 1 : 0);
    this.metrics?.dbPingSeconds.set((performance.now() - started) / 1000);
    return this.ok;
  }
}
