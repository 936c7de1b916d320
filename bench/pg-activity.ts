import postgres from "postgres";

/** Averages over the samples taken while a scenario was measured. */
export interface PgActivity {
  samples: number;
  /** Backends of the scratch database waiting for a lock (row, tuple, transaction id, ...). */
  lockWaiting: number;
  /** Backends inside a transaction waiting for the server to send the next statement. */
  idleInTransaction: number;
  /** Backends running a statement (on CPU or doing I/O). */
  active: number;
}

/**
 * Samples pg_stat_activity for one database a few times a second, on a connection of its own.
 * It shows when a scenario is held up by the database (lock queues) rather than by CPU.
 */
export class PgActivitySampler {
  private readonly sql: postgres.Sql;
  private timer: NodeJS.Timeout | undefined;
  private sum = { samples: 0, lockWaiting: 0, idleInTransaction: 0, active: 0 };
  private busy = false;

  constructor(
    url: string,
    private readonly database: string,
  ) {
    this.sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5, idle_timeout: 30 });
  }

  start(intervalMs = 100): void {
    this.sum = { samples: 0, lockWaiting: 0, idleInTransaction: 0, active: 0 };
    this.timer = setInterval(() => void this.sample(), intervalMs);
  }

  /** Stops sampling; undefined when start() was not called since the last stop(). */
  stop(): PgActivity | undefined {
    if (!this.timer) return undefined;
    clearInterval(this.timer);
    this.timer = undefined;
    const s = this.sum;
    if (s.samples === 0) return undefined;
    return { samples: s.samples, lockWaiting: s.lockWaiting / s.samples, idleInTransaction: s.idleInTransaction / s.samples, active: s.active / s.samples };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.sql.end({ timeout: 2 }).catch(() => {});
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const [row] = await this.sql<{ lock: number; iit: number; active: number }[]>`
        select count(*) filter (where wait_event_type = 'Lock')::int as lock,
               count(*) filter (where state = 'idle in transaction')::int as iit,
               count(*) filter (where state = 'active' and coalesce(wait_event_type, '') <> 'Lock')::int as active
        from pg_stat_activity where datname = ${this.database} and pid <> pg_backend_pid()`;
      if (row && this.timer) {
        this.sum.samples++;
        this.sum.lockWaiting += row.lock;
        this.sum.idleInTransaction += row.iit;
        this.sum.active += row.active;
      }
    } catch {
      /* a missed sample */
    } finally {
      this.busy = false;
    }
  }
}
