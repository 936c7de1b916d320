import type { AppDeps } from "../../src/app.js";
import type { Config } from "../../src/config.js";
import { createTestApp, type TestApp } from "./test-app.js";

/**
 * In memory every call comes from the same unknown client address, so the per-address and
 * per-network budgets (meant for real clients) would be shared by every test of a file.
 * They are raised here; the per-account budget, which these tests exercise, keeps its default.
 */
export const IN_MEMORY_BUDGETS = {
  network_max_failures: 100_000,
  subnet_max_failures: 1_000_000,
  signups_per_address_per_hour: 100_000,
} as const;

/** createTestApp with the address budgets raised (see above). */
export function startApp(overrides: Partial<Record<keyof Config, unknown>> = {}, deps: Partial<Pick<AppDeps, "hasher" | "log">> = {}): Promise<TestApp> {
  return createTestApp({ ...IN_MEMORY_BUDGETS, ...overrides }, deps);
}
