import type { Logger } from "pino";

/** A warning logged at most once per interval: an attack must not become a flood of log lines. */
export function throttledWarning(log: Logger, intervalMs = 60_000): (fields: Record<string, unknown>, msg: string) => void {
  let last = -Infinity;
  return (fields, msg) => {
    const now = performance.now();
    if (now - last < intervalMs) return;
    last = now;
    log.warn(fields, msg);
  };
}
