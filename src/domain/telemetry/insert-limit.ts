/**
 * At most `max` jobs at once; the rest wait in arrival order. Telemetry inserts go through one
 * per instance so that a flood of large batches holds a few pool connections, not all of
 * them (sign-ins and every other call need the rest), and concurrent writers to the same
 * index pages contend less.
 */
export class ConcurrencyLimit {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await job();
    } finally {
      // The slot passes straight to the next in line, if any.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  get queued(): number {
    return this.waiting.length;
  }
}
