/**
 * The rows of a raw `db.execute(sql...)`: postgres.js returns them as an array, PGlite as
 * `{ rows }`; repositories read both the same way.
 */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] } | undefined)?.rows ?? []) as T[];
}
