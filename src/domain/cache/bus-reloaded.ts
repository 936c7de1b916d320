import type { InvalidationBus, InvalidationTopic } from "../invalidation.js";

export interface BusReloadedDeps<T> {
  bus: InvalidationBus;
  /** Every notification on this topic reloads. */
  topic: InvalidationTopic;
  log: { warn(obj: object, msg: string): void };
  /** A reload this often besides the notifications (one lost with its connection). */
  refreshMs: number;
  /** Reads the whole set from the database. */
  load: () => Promise<T>;
  /** For the log line when a reload fails, e.g. "lock". */
  what: string;
}

/**
 * A small set every instance holds whole in memory (locks, access grants): loaded at start (a
 * failure stops the start), reloaded on every notification of its topic and on a timer. A reload
 * asked for while one runs starts after it, so whoever awaits it sees every commit made before
 * the call (the instance that made a change reads its own). A failed reload keeps what was known.
 */
export class BusReloaded<T> {
  private value: T;
  private loading?: Promise<void>;
  private queued?: Promise<void>;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly d: BusReloadedDeps<T>,
    initial: T,
  ) {
    this.value = initial;
  }

  get current(): T {
    return this.value;
  }

  async start(): Promise<void> {
    this.d.bus.on(this.d.topic, () => void this.reload().catch(() => {}));
    await this.reload();
    this.timer = setInterval(() => void this.reload().catch(() => {}), this.d.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  reload(): Promise<void> {
    if (this.loading) {
      const after = () => ((this.queued = undefined), this.reload());
      return (this.queued ??= this.loading.then(after, after));
    }
    this.loading = this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async load(): Promise<void> {
    try {
      this.value = await this.d.load();
    } catch (err) {
      this.d.log.warn({ err: { message: (err as Error).message } }, `${this.d.what} reload failed`);
      throw err;
    }
  }
}
