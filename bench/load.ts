/** Closed-loop load: `concurrency` workers, each issuing the next call when its last one ends. */
export type Operation = () => Promise<void>;

export interface LoadResult {
  ok: number;
  errors: number;
  /** Length of the measured window, seconds. */
  seconds: number;
  /** Latencies (ms, ascending) of the calls that completed inside the measured window, ok or failed. */
  latencies: Float64Array;
  firstError?: string;
}

/**
 * Runs warm-up and measurement as one continuous load, so the pipeline is already full when
 * measuring starts; only calls that complete inside [warm-up end, end] are counted, which
 * keeps a slow call straddling either edge from skewing requests/s.
 */
export async function runLoad(op: Operation, concurrency: number, warmupSeconds: number, seconds: number, signal?: AbortSignal): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  const measureFrom = performance.now() + warmupSeconds * 1000;
  const end = measureFrom + seconds * 1000;

  const worker = async () => {
    while (performance.now() < end && !signal?.aborted) {
      const t0 = performance.now();
      let failed: unknown;
      try {
        await op();
      } catch (err) {
        failed = err ?? "error";
      }
      const t1 = performance.now();
      // A call that fails at once (connection gone) must not spin the loop in microtasks only:
      // that would starve timers and signal handlers.
      if (failed !== undefined) await new Promise((r) => setImmediate(r));
      if (t1 < measureFrom || t1 > end) continue;
      if (failed === undefined) ok++;
      else {
        errors++;
        firstError ??= failed instanceof Error ? failed.message : String(failed);
      }
      if (n === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[n++] = t1 - t0;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, errors, seconds, latencies: latencies.slice(0, n).sort(), firstError };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}
