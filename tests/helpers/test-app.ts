import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import { createClient, createRouterTransport, type Client, type Transport } from "@connectrpc/connect";
import { createApp, type App, type AppDeps } from "../../src/app.js";
import { ManualClock } from "../../src/clock.js";
import { loadConfig, type Config } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { routes } from "../../src/routes.js";
import { openTestDatabase, type TestDatabase } from "./database.js";

export const ADMIN_EMAIL = "admin@warden.test";
export const ADMIN_PASSWORD = "Admin-passphrase-for-tests-7391";
/** Passes the strength check (score >= 3). */
export const STRONG_PASSWORD = "violet-Harbor-mosaic-2931";

export interface TestApp {
  app: App;
  clock: ManualClock;
  transport: Transport;
  config: Config;
  testDb: TestDatabase;
  client<S extends DescService>(service: S): Client<S>;
  close(): Promise<void>;
}

/** A full app on its own database, reached in memory through createRouterTransport. */
export async function createTestApp(
  overrides: Partial<Record<keyof Config, unknown>> = {},
  /** Optional real dependencies to inject, e.g. a counting wrapper around the real hasher. */
  deps: Partial<Pick<AppDeps, "hasher" | "log">> = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), "warden-test-"));
  const config = loadConfig(
    {},
    {
      data_dir: dataDir,
      log_level: "silent",
      master_key: "test-master-key-0123456789abcdef0123456789",
      admin_email: ADMIN_EMAIL,
      admin_password: ADMIN_PASSWORD,
      ...overrides,
    },
  );
  const clock = new ManualClock(new Date());
  const testDb = await openTestDatabase();
  const app = await createApp({ config, database: testDb.database, clock, log: deps.log ?? createLogger("silent"), hasher: deps.hasher });
  const transport = createRouterTransport(routes(app), { router: app.routerOptions });
  return {
    app,
    clock,
    transport,
    config,
    testDb,
    client: (service) => createClient(service, transport),
    async close() {
      await app.close();
      await testDb.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function bearer(token: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${token}` } };
}
