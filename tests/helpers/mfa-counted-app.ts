import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { createApp } from "../../src/app.js";
import { ManualClock } from "../../src/clock.js";
import { loadConfig, type Config } from "../../src/config.js";
import { createArgon2Hasher, type PasswordHasher } from "../../src/crypto/password-hasher.js";
import { createLogger } from "../../src/logger.js";
import { routes } from "../../src/routes.js";
import { openTestDatabase } from "./database.js";
import type { TestApp } from "./test-app.js";

/** How often each hasher operation ran. */
export interface HashCounts {
  hash: number;
  verify: number;
  verifyDummy: number;
}

export const hashesDone = (c: HashCounts) => c.hash + c.verify + c.verifyDummy;

/** The real argon2id hasher, counting its calls. */
export async function countingHasher(): Promise<{ hasher: PasswordHasher; counts: HashCounts }> {
  const real = await createArgon2Hasher();
  const counts: HashCounts = { hash: 0, verify: 0, verifyDummy: 0 };
  const hasher: PasswordHasher = {
    hash: (password) => (counts.hash++, real.hash(password)),
    verify: (stored, password) => (counts.verify++, real.verify(stored, password)),
    verifyDummy: (password) => (counts.verifyDummy++, real.verifyDummy(password)),
  };
  return { hasher, counts };
}

/** Like createTestApp, but built with a counting hasher through createApp's `hasher` dependency. */
export async function createCountedApp(overrides: Partial<Record<keyof Config, unknown>> = {}): Promise<TestApp & { counts: HashCounts }> {
  const { hasher, counts } = await countingHasher();
  const dir = mkdtempSync(join(tmpdir(), "warden-counted-"));
  const config = loadConfig({}, { data_dir: dir, log_level: "silent", master_key: "counted-app-master-key-0123456789abcdef", ...overrides });
  const testDb = await openTestDatabase();
  const clock = new ManualClock(new Date());
  const app = await createApp({ config, clock, hasher, database: testDb.database, log: createLogger("silent") });
  const transport = createRouterTransport(routes(app), { router: app.routerOptions });
  const close = async () => {
    await app.close();
    await testDb.cleanup();
    rmSync(dir, { recursive: true, force: true });
  };
  return { app, clock, config, testDb, transport, counts, close, client: (service) => createClient(service, transport) };
}
