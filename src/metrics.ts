import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** One registry per server instance (no global state), exposed on /metrics. */
export class Metrics {
  readonly registry = new Registry();
  readonly calls = new Counter({ name: "warden_rpc_calls_total", help: "RPCs by method and code", labelNames: ["method", "code"], registers: [this.registry] });
  readonly latency = new Histogram({
    name: "warden_rpc_duration_seconds",
    help: "RPC latency by method",
    labelNames: ["method"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({ name: "warden_rpc_in_flight", help: "RPCs being served", registers: [this.registry] });
  readonly dbUp = new Gauge({ name: "warden_database_up", help: "1 while the database answers", registers: [this.registry] });
  readonly dbPingSeconds = new Gauge({ name: "warden_database_ping_seconds", help: "Latency of the last readiness ping", registers: [this.registry] });
  readonly dbPoolMax = new Gauge({ name: "warden_database_pool_max", help: "Connections the database pool may open", registers: [this.registry] });
  readonly dbQueriesInFlight = new Gauge({
    name: "warden_database_transactions_in_flight",
    help: "Database transactions open now",
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "warden_" });
  }

  /** Entries held by each per-instance cache, read at every scrape. */
  watchCaches(sizes: () => { name: string; size: number }[]): void {
    new Gauge({
      name: "warden_cache_entries",
      help: "Entries held by each per-instance cache",
      labelNames: ["cache"],
      registers: [this.registry],
      collect() {
        for (const c of sizes()) this.set({ cache: c.name }, c.size);
      },
    });
  }
}
