import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScratchDatabase, dropScratchDatabase, TEST_PG_URL } from "../helpers/database.js";
import { clientsFor } from "../helpers/e2e-clients.js";
import { makeTempDir, runServerToExit, SLOW_TEST, startServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer } from "../helpers/test-app.js";

/**
 * Fault: instances that share a database but were given different master keys. The signing
 * keys in the database are sealed with the master key; an instance holding another key cannot
 * open them, and must not go on to seal keys of its own next to them (tokens one instance
 * signs would then fail on the other, and the audit chain's keyed links would not verify). It
 * refuses to start, saying what to fix. On PostgreSQL the instances run side by side on one
 * database; on the embedded database (one process at a time) they run one after another on
 * the same data directory, which is the same situation for the sealed keys.
 *
 * Also: the master key read from master_key_file outside the data directory, and a key file
 * too short to be a key refused with a clear message.
 */
const KEY_A = "shared-master-key-A-0123456789abcdef0123456789";
const KEY_B = "another-master-key-B-0123456789abcdef012345678";
const MISMATCH = /every instance that shares a database must be given the same master key/;

/** Where the instances' shared database lives: a scratch PostgreSQL database, or one data directory. */
interface SharedDatabase {
  env: Record<string, string>;
  /** Only one process may open an embedded database: the first instance stops before the next starts. */
  oneAtATime: boolean;
}

describe(`instances sharing one database (${TEST_PG_URL ? "PostgreSQL, side by side" : "embedded, one after another on the same data directory"})`, () => {
  let shared: SharedDatabase;
  let databaseUrl: string | undefined;
  let dataDir: string;
  let secrets: string;
  let a: ServerProcess | undefined;
  let b: ServerProcess | undefined;
  /** An access token the first instance (key A, from a file) signed. */
  let tokenFromA = "";

  beforeAll(async () => {
    dataDir = makeTempDir("warden-mk-data-");
    secrets = makeTempDir("warden-mk-secrets-");
    if (TEST_PG_URL) databaseUrl = await createScratchDatabase();
    shared = databaseUrl ? { env: { DATABASE_URL: databaseUrl }, oneAtATime: false } : { env: { WARDEN_DATA_DIR: dataDir }, oneAtATime: true };
  });
  afterAll(async () => {
    await Promise.all([a?.dispose(), b?.dispose()]);
    if (databaseUrl) await dropScratchDatabase(databaseUrl);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(secrets, { recursive: true, force: true });
  });

  // The tests run in order on one database: A starts it, the refused ones try it, B joins it.
  it("the first instance reads its master key from master_key_file outside the data directory: nothing generated next to the data", SLOW_TEST, async () => {
    const keyFile = join(secrets, "master.key");
    writeFileSync(keyFile, `${KEY_A}\n`, { mode: 0o600 });
    a = await startServerProcess({ dataDir, env: { ...shared.env, WARDEN_MASTER_KEY: undefined, WARDEN_MASTER_KEY_FILE: keyFile } });
    expect(existsSync(join(dataDir, "master.key")), "no key generated next to the data").toBe(false);
    expect(
      a.logLines().some((l) => /master key/.test(String(l.msg))),
      "no warning about a generated or co-located key",
    ).toBe(false);
    const onA = clientsFor(createConnectTransport({ baseUrl: a.baseUrl, httpVersion: "1.1" }));
    tokenFromA = (await onA.auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken;
    expect(tokenFromA).not.toBe("");
    if (shared.oneAtATime) expect(await a.stop()).toEqual({ code: 0, signal: null });
  });

  it(
    "a second instance given another master key refuses to start: exit 1, saying every instance sharing a database needs the same key",
    SLOW_TEST,
    async () => {
      expect(tokenFromA, "the first instance ran").not.toBe("");
      const refused = await runServerToExit({ ...shared.env, WARDEN_MASTER_KEY: KEY_B });
      expect(refused.code, refused.stderr).toBe(1);
      expect(refused.stderr).toMatch(MISMATCH);
      expect(refused.stderr).toMatch(/WARDEN_MASTER_KEY/);
      expect(refused.stdout).not.toContain("warden listening");
      // Neither key appears in what it wrote.
      expect(refused.stderr + refused.stdout).not.toContain(KEY_A);
      expect(refused.stderr + refused.stdout).not.toContain(KEY_B);
    },
  );

  it(
    "master_key_file too short to be a key, or missing, is refused at start naming the file (no key generated instead); with master_key too, a configuration error (exit 2)",
    SLOW_TEST,
    async () => {
      const short = join(secrets, "short.key");
      writeFileSync(short, "too-short-a-key\n", { mode: 0o600 });
      const missing = join(secrets, "nowhere", "master.key");
      const both = join(secrets, "both.key");
      writeFileSync(both, `${KEY_A}\n`, { mode: 0o600 });
      const runs = [
        () => runServerToExit({ ...shared.env, WARDEN_MASTER_KEY: undefined, WARDEN_MASTER_KEY_FILE: short }),
        () => runServerToExit({ ...shared.env, WARDEN_MASTER_KEY: undefined, WARDEN_MASTER_KEY_FILE: missing }),
        () => runServerToExit({ ...shared.env, WARDEN_MASTER_KEY: KEY_A, WARDEN_MASTER_KEY_FILE: both }),
      ];
      // One process at a time may open an embedded database.
      const [tooShort, absent, twice] = shared.oneAtATime ? await sequentially(runs) : await Promise.all(runs.map((r) => r()));

      expect(tooShort!.code, tooShort!.stderr).toBe(1);
      expect(tooShort!.stderr).toContain(short);
      expect(tooShort!.stderr).toMatch(/at least 32 characters/);
      expect(tooShort!.stdout).not.toContain("warden listening");
      expect(tooShort!.stderr + tooShort!.stdout).not.toContain("too-short-a-key");

      expect(absent!.code, absent!.stderr).toBe(1);
      expect(absent!.stderr).toContain(missing);
      expect(absent!.stdout).not.toContain("warden listening");
      expect(existsSync(join(dataDir, "master.key")), "no key generated in place of the missing file").toBe(false);

      expect(twice!.code, twice!.stderr).toBe(2);
      expect(twice!.stderr).toMatch(/master_key_file \(WARDEN_MASTER_KEY_FILE\): give master_key or master_key_file, not both/);
    },
  );

  it("an instance given the same master key (as the setting this time) starts and accepts the first one's tokens", SLOW_TEST, async () => {
    expect(tokenFromA, "the first instance ran").not.toBe("");
    b = await startServerProcess({ dataDir: shared.oneAtATime ? dataDir : undefined, env: { ...shared.env, WARDEN_MASTER_KEY: KEY_A } });
    const onB = clientsFor(createConnectTransport({ baseUrl: b.baseUrl, httpVersion: "1.1" }));
    expect((await onB.session.validateSession({}, bearer(tokenFromA))).valid).toBe(true);
    expect((await onB.auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).user?.email).toBe(ADMIN_EMAIL);
    if (!shared.oneAtATime) {
      // Side by side: what B signs verifies on A too, and the refused instances changed nothing for A.
      const onA = clientsFor(createConnectTransport({ baseUrl: a!.baseUrl, httpVersion: "1.1" }));
      const fromB = await onB.auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
      expect((await onA.session.validateSession({}, bearer(fromB.accessToken))).valid).toBe(true);
    }
  });
});

async function sequentially<T>(runs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  for (const run of runs) results.push(await run());
  return results;
}
