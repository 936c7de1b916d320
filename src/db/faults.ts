/** Errors that mean "the database cannot be reached now", as opposed to a bad query. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/** The string codes along an error's cause chain (Drizzle wraps the driver's error). */
function* codesOf(err: unknown): Generator<string> {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof AggregateError) for (const inner of e.errors) yield* codesOf(inner);
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") yield code;
  }
}

export function isDatabaseUnavailable(err: unknown): boolean {
  for (const code of codesOf(err)) {
    if (NETWORK_CODES.has(code)) return true;
    // SQLSTATE class 08 (connection exception), 57P01..57P03 (shutdown), 53300 (too many connections),
    // 57014 (cancelled: the statement timeout).
    if (/^08/.test(code) || /^57P0[1-3]$/.test(code) || code === "53300" || code === "57014") return true;
  }
  return false;
}

/** SQLSTATE class 22 (data exception): a value the database cannot hold, such as NUL in text or a
 *  malformed uuid. It comes from the caller's input, so it is the caller's error, not a fault. */
export function isInvalidData(err: unknown): boolean {
  for (const code of codesOf(err)) if (/^22[0-9A-Z]{3}$/.test(code)) return true;
  return false;
}
