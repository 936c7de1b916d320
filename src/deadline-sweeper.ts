/**
 * Many deadlines on one timer. A timer per call (setTimeout, or a stream's setTimeout) costs a
 * few microseconds to arm and disarm on every request, which showed in the hot path's profile;
 * here a deadline is a map entry, checked every `tickMs` while any are pending, so it fires up
 * to one tick late. For limits measured in seconds (call timeouts, stalled request bodies).
 */
export class DeadlineSweeper {
  private readonly pending = new Map<object, { at: number; fire: () => void }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly tickMs: number) {}

  /** Calls `fire` once `ms` have passed, unless `cancel(key)` came first. */
  add(key: object, ms: number, fire: () => void): void {
    this.pending.set(key, { at: performance.now() + ms, fire });
    // Left running while deadlines come and go; the sweep stops it once none are left.
    this.timer ??= setInterval(() => this.sweep(), this.tickMs).unref();
  }

  cancel(key: object): void {
    this.pending.delete(key);
  }

  private sweep(): void {
    const now = performance.now();
    for (const [key, d] of this.pending) {
      if (d.at > now) continue;
      this.pending.delete(key);
      d.fire();
    }
    if (this.pending.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
