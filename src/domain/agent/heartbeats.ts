import type { Clock } from "../../clock.js";
import type { HeartbeatUpdate, NodeStore } from "../store/join-store.js";

export interface HeartbeatsDeps {
  store: { nodes: Pick<NodeStore, "recordHeartbeats"> };
  clock: Clock;
  /** How often heartbeats reach the database. */
  flushMs: number;
  log: { warn(obj: object, msg: string): void };
}

/**
 * Heartbeats are written in batches: a thousand agents beating every few seconds would otherwise
 * be a thousand single-row updates a second. An agent's beats between two flushes merge into
 * one (the latest time, the latest labels), and the whole batch is one statement per shape, so
 * "last seen" lags by at most the flush interval, far below node_offline_after.
 */
export class Heartbeats {
  private pending = new Map<string, HeartbeatUpdate>();
  /** What each agent last reported besides the time: an unchanged report writes only the time. */
  private readonly reported = new Map<string, Report>();
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;

  constructor(private readonly d: HeartbeatsDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.d.flushMs);
    this.timer.unref();
  }

  record(update: Omit<HeartbeatUpdate, "at">): void {
    const changed = !sameReport(this.reported.get(update.id), update);
    if (changed) this.reported.set(update.id, { labels: update.labels, version: update.version, addresses: update.addresses });
    const before = this.pending.get(update.id);
    this.pending.set(update.id, {
      id: update.id,
      at: this.d.clock.now(),
      labels: (changed ? update.labels : undefined) ?? before?.labels,
      version: (changed ? update.version : undefined) ?? before?.version,
      addresses: (changed ? update.addresses : undefined) ?? before?.addresses,
    });
  }

  /** Drops what an agent that left still had pending. */
  forget(agentId: string): void {
    this.pending.delete(agentId);
    this.reported.delete(agentId);
  }

  /** Writes what is pending; a failed write keeps it for the next flush (newer beats win). */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.size === 0) return Promise.resolve();
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.flushing = this.d.store.nodes
      .recordHeartbeats(batch)
      .catch((err: Error) => {
        this.d.log.warn({ err: { message: err.message }, agents: batch.length }, "heartbeat flush failed; kept for the next one");
        for (const u of batch) if (!this.pending.has(u.id)) this.pending.set(u.id, u);
      })
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flushing;
    await this.flush();
  }
}

type Report = Pick<HeartbeatUpdate, "labels" | "version" | "addresses">;

/** Field by field (a heartbeat's report is small): cheaper than serialising both on every beat. */
function sameReport(a: Report | undefined, b: Report): boolean {
  if (!a || a.version !== b.version) return false;
  if ((a.addresses ?? []).join(",") !== (b.addresses ?? []).join(",")) return false;
  const la = a.labels ?? {};
  const lb = b.labels ?? {};
  const keys = Object.keys(lb);
  return keys.length === Object.keys(la).length && keys.every((k) => la[k] === lb[k]);
}
