import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The markers scripts/patch-postgres-driver.mjs writes into the driver it repaired, one per change. */
const MARKERS = ["/* warden: closed-socket write guard */", "/* warden: array-type fetch settles */"];

/**
 * Refuses to use PostgreSQL with an unrepaired driver: postgres.js 3.4.9 crashes the process when
 * a query is written to a connection the database already closed (an outage would take Warden
 * down instead of answering UNAVAILABLE). `npm install` and `npm ci` repair it; an install that
 * skipped the project's scripts has not.
 */
export function assertPostgresDriverRepaired(): void {
  const require = createRequire(import.meta.url);
  const root = dirname(dirname(dirname(require.resolve("postgres"))));
  for (const file of ["src/connection.js", "cjs/src/connection.js"])
    if (!MARKERS.every((marker) => readFileSync(join(root, file), "utf8").includes(marker)))
      throw new Error(
        `the PostgreSQL driver (${join(root, file)}) lacks Warden's closed-socket repair: run \`node scripts/patch-postgres-driver.mjs\` (npm install runs it unless scripts are disabled)`,
      );
}
