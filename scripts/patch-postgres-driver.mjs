// Run by `npm install` / `npm ci` (the project's postinstall). Repairs two defects of the
// PostgreSQL driver and removes one cost, postgres.js 3.4.9 (upstream issues porsager/postgres#1154, #1208, open at
// the time of writing, for the first):
//
// Small writes are batched behind setImmediate. When a connection's socket closes, the driver
// sets `socket = null` but leaves the write timer variable set (so it never arms again) and
// keeps the buffered bytes; and a query sent on a connection that has already closed (the
// ROLLBACK of a transaction whose database went away) schedules a write to the null socket.
// That write throws inside an Immediate, outside any promise: the whole process dies. Warden
// must answer TEMPFAIL/UNAVAILABLE during a database outage, not crash.
//
// The repair: a write with no socket rejects the connection's queries with CONNECTION_CLOSED
// (which callers already handle) instead of throwing, and closing or ending a connection drops
// the buffered bytes and disarms the timer, so a reconnected socket starts clean.
//
// The second: a new connection fetches the database's array types before its first query, from
// a message handler that drops the promise. When the database goes away during that fetch, the
// rejection is unhandled, and Node ends the process for it. The connection's own close already
// rejects its queries, so the fetch's failure is caught there and goes nowhere else.
//
// The cost: every parameter goes as text, so a bytea parameter (a session recording's chunk)
// became a hex string twice its size, measured and written out again, which took about 70% of
// the server's CPU while recordings streamed. A bytea parameter whose value is bytes now goes in
// the protocol's binary format (format code 1: the bytes as they are); the rest stay text.
//
// Idempotent (each change leaves a marker). Any other driver version, or a file that does
// not have the expected text, fails the install loudly: the pinned version is what was checked.
import { readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import console from "node:console";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const MARKER = "/* warden: closed-socket write guard */";
const BYTEA_MARKER = "/* warden: bytea parameters in binary */";
const TYPES_MARKER = "/* warden: array-type fetch settles */";
const EXPECTED_VERSION = "3.4.9";

const REPLACEMENTS = [
  {
    what: "nextWrite settles instead of writing to a closed socket",
    from: `  function nextWrite(fn) {
    const x = socket.write(chunk, fn)`,
    to: `  function nextWrite(fn) {
    ${MARKER}
    if (socket === null) {
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options))
      return false
    }
    const x = socket.write(chunk, fn)`,
  },
  {
    what: "terminate drops what was buffered for the old socket",
    from: `    terminated = true
    if (stream || query || initial || sent.length)
      error(Errors.connection('CONNECTION_DESTROYED', options))

    clearImmediate(nextWriteTimer)`,
    to: `    terminated = true
    if (stream || query || initial || sent.length)
      error(Errors.connection('CONNECTION_DESTROYED', options))

    clearImmediate(nextWriteTimer)
    chunk = nextWriteTimer = null`,
  },
  {
    what: "a failed array-type fetch is settled (the connection's close rejects its queries)",
    marker: TYPES_MARKER,
    from: `      if (needsTypes) {
        initial.reserve && (initial = null)
        return fetchArrayTypes()
      }`,
    to: `      if (needsTypes) {
        initial.reserve && (initial = null)
        ${TYPES_MARKER}
        return fetchArrayTypes().catch(() => {})
      }`,
  },
  {
    what: "closed drops what was buffered for the old socket",
    from: `    incomings = null
    clearImmediate(nextWriteTimer)
    socket.removeListener('data', data)`,
    to: `    incomings = null
    clearImmediate(nextWriteTimer)
    chunk = nextWriteTimer = null
    socket.removeListener('data', data)`,
  },
  {
    what: "bytea parameters are sent as bytes, not hex text",
    marker: BYTEA_MARKER,
    from: `    b().B().str(portal + b.N).str(statement + b.N).i16(0).i16(parameters.length)

    parameters.forEach((x, i) => {
      if (x === null)
        return b.i32(0xFFFFFFFF)
`,
    to: `    ${BYTEA_MARKER}
    const binary = parameters.map((x, i) => types[i] === 17 && x instanceof Uint8Array)
    b().B().str(portal + b.N).str(statement + b.N)
    if (binary.includes(true)) {
      b.i16(binary.length)
      binary.forEach(x => b.i16(x ? 1 : 0))
    } else {
      b.i16(0)
    }
    b.i16(parameters.length)

    parameters.forEach((x, i) => {
      if (x === null)
        return b.i32(0xFFFFFFFF)

      if (binary[i])
        return b.i32(x.byteLength).raw(x)
`,
  },
];

const require = createRequire(import.meta.url);
let root;
try {
  // The package does not export its package.json; its CommonJS entry is cjs/src/index.js.
  root = dirname(dirname(dirname(require.resolve("postgres"))));
} catch {
  // Not installed (e.g. an install that omits this dependency): nothing to repair.
  process.exit(0);
}
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

for (const file of ["src/connection.js", "cjs/src/connection.js"]) {
  const path = join(root, file);
  let text = readFileSync(path, "utf8");
  // A driver repaired by an older version of this script gets the changes it lacks.
  const missing = REPLACEMENTS.filter((r) => !text.includes(r.marker ?? MARKER));
  if (missing.length === 0) continue;
  if (version !== EXPECTED_VERSION) fail(`postgres ${version} is installed; this repair was written for ${EXPECTED_VERSION}. Check whether the new version fixes the closed-socket write (porsager/postgres#1208) and the unhandled array-type fetch, and update scripts/patch-postgres-driver.mjs.`);
  for (const r of missing) {
    if (text.split(r.from).length !== 2) fail(`${file}: the text to change for "${r.what}" is not there exactly once`);
    text = text.replace(r.from, r.to);
  }
  writeFileSync(path, text);
}

function fail(message) {
  console.error(`patch-postgres-driver: ${message}`);
  process.exit(1);
}
