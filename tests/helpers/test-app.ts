import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import { createClient, createRouterTransport, type Client, type Transport } from "@connectrpc/connect";
import type { Logger } from "pino";
import { createApp, type App } from "../../src/app.js";
import { ManualClock } from "../../src/clock.js";
import { loadConfig, type Config } from "../../src/config.js";
import { createArgon2Hasher, type PasswordHasher } from "../../src/crypto/password-hasher.js";
import { openDatabase } from "../../src/db/client.js";
import { createLogger } from "../../src/logger.js";
import { routes } from "../../src/routes.js";
import { openTestDatabase, type TestDatabase } from "./database.js";

export const ADMIN_EMAIL = "admin@warden.test";
export const ADMIN_PASSWORD = "Admin-passphrase-for-tests-7391";
/** Passes the strength check (score >= 3). */
export const STRONG_PASSWORD = "violet-Harbor-mosaic-2931";

/**
 * In memory every call comes from the same unknown client address, so the per-address and
 * per-network budgets (meant for real clients) would be shared by every test of a file. They
 * are raised here unless a test sets them; the per-account budget keeps its default.
 */
/** The client address every in-memory call carries (none): the key of its per-address budgets. */
export const IN_MEMORY_ADDRESS = "";

export const IN_MEMORY_BUDGETS = {
  network_max_failures: 100_000,
  subnet_max_failures: 1_000_000,
  signups_per_address_per_hour: 100_000,
  passkey_starts_per_address_per_hour: 1_000_000,
} as const;

/** How often each hasher operation ran. */
export interface HashCounts {
  hash: number;
  verify: number;
  verifyDummy: number;
}

export const hashesDone = (c: HashCounts) => c.hash + c.verify + c.verifyDummy;

export interface TestAppOptions {
  /** A logger to read what the app writes (silent otherwise). */
  log?: Logger;
  /** Wrap the real argon2id hasher and count its calls (TestApp.hashes). */
  countHashes?: boolean;
  /** Another instance on the same database (and clock) as this app: caches, the bus, restarts. */
  sameDatabaseAs?: TestApp;
  /** A database the test prepared (e.g. holding rows an older version wrote) instead of a fresh one. */
  database?: TestDatabase;
  /** Where the manual clock starts (now by default): behind real time, so that tests can advance it and still hand real tools (sshd) certificates that are valid now. */
  startAt?: Date;
}

export interface TestApp {
  app: App;
  clock: ManualClock;
  transport: Transport;
  config: Config;
  testDb: TestDatabase;
  /** Hasher calls, when built with countHashes. */
  hashes: HashCounts;
  client<S extends DescService>(service: S): Client<S>;
  close(): Promise<void>;
}

/** The one test-app builder: a full app on its own database, reached in memory through createRouterTransport. */
export async function createTestApp(overrides: Partial<Record<keyof Config, unknown>> = {}, opts: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), "warden-test-"));
  const config = loadConfig(
    {},
    {
      data_dir: dataDir,
      log_level: "silent",
      master_key: "test-master-key-0123456789abcdef0123456789",
      admin_email: ADMIN_EMAIL,
      admin_password: ADMIN_PASSWORD,
      ...IN_MEMORY_BUDGETS,
      ...overrides,
    },
  );
  const shared = opts.sameDatabaseAs;
  const clock = shared?.clock ?? new ManualClock(opts.startAt ?? new Date());
  const testDb = opts.database ?? (shared ? await secondConnection(shared.testDb) : await openTestDatabase());
  const hashes: HashCounts = { hash: 0, verify: 0, verifyDummy: 0 };
  const hasher = opts.countHashes ? countingHasher(await createArgon2Hasher(), hashes) : undefined;
  const app = await createApp({ config, database: testDb.database, clock, log: opts.log ?? createLogger("silent"), hasher });
  const transport = createRouterTransport(routes(app.handlers, app.services), { router: app.routerOptions });
  return {
    app,
    clock,
    transport,
    config,
    testDb,
    hashes,
    client: (service) => createClient(service, transport),
    async close() {
      await app.close();
      await testDb.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A second instance's view of a test database: its own pool on PostgreSQL, the same embedded database otherwise. */
async function secondConnection(first: TestDatabase): Promise<TestDatabase> {
  if (!first.url) return { database: first.database, cleanup: async () => {} };
  const database = await openDatabase({ databaseUrl: first.url, poolSize: 5 });
  return { database, url: first.url, cleanup: () => database.close() };
}

function countingHasher(real: PasswordHasher, counts: HashCounts): PasswordHasher {
  return {
    hash: (password) => (counts.hash++, real.hash(password)),
    verify: (stored, password) => (counts.verify++, real.verify(stored, password)),
    verifyDummy: (password) => (counts.verifyDummy++, real.verifyDummy(password)),
  };
}

export function bearer(token: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${token}` } };
}

/**
 * Waits until `b` has heard every change `a` published so far: a marker sent after them arrives
 * after them (PostgreSQL delivers notifications in commit order), so b's next call is the first
 * one after the change.
 */
export async function caughtUp(a: TestApp, b: TestApp): Promise<void> {
  const marker = `marker-${Math.random().toString(36).slice(2)}`;
  const heard = new Promise<void>((resolve) => b.app.hooks.bus.on("session", (id) => id === marker && resolve()));
  await a.app.hooks.bus.publish([{ topic: "session", id: marker }]);
  await heard;
}
