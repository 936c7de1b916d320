import type { ConnectRouterOptions, Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import type { KeyStore } from "./crypto/key-store.js";
import type { TokenService } from "./crypto/token-service.js";
import type { Database, Db } from "./db/client.js";
import type { Authenticator } from "./domain/auth/authenticator.js";
import type { Caches } from "./domain/cache/caches.js";
import type { InvalidationBus } from "./domain/invalidation.js";
import type { DevOtpStore } from "./domain/mfa/sms-sender.js";
import type { BruteForce } from "./domain/ratelimit/brute-force.js";
import type { SessionManager } from "./domain/session/session-manager.js";
import type { Store } from "./domain/store/stores.js";
import { authnInterceptor } from "./interceptors/authn.js";
import { deadlineInterceptor } from "./interceptors/deadline.js";
import { errorsInterceptor } from "./interceptors/errors.js";
import { metricsInterceptor } from "./interceptors/metrics.js";
import { policyInterceptor } from "./interceptors/policy.js";
import { rateLimitInterceptor } from "./interceptors/rate-limit.js";
import { requestLogInterceptor } from "./interceptors/request-log.js";
import { validationInterceptor } from "./interceptors/validation.js";
import type { Metrics } from "./metrics.js";
import { policyProblems } from "./policy.js";
import type { Readiness } from "./readiness.js";
import { SERVICES, type ServiceHandlers } from "./routes.js";
import { wireAccounts } from "./wiring/accounts.js";
import { createCore, type CoreDeps } from "./wiring/core.js";
import { wireFederation } from "./wiring/federation.js";
import { wireMfa } from "./wiring/mfa.js";
import { wireOperations } from "./wiring/operations.js";
import { wirePasskeys } from "./wiring/passkeys.js";
import { wireRbac } from "./wiring/rbac.js";
import { wireSessions } from "./wiring/sessions.js";
import { wireTenancy } from "./wiring/tenancy.js";

export type AppDeps = CoreDeps;

/**
 * What tests and benchmarks may reach inside a running app, named here so that nothing else of
 * the app's insides is part of any contract.
 */
export interface TestHooks {
  /** The raw database, for tests that tamper with rows as an attacker with database access would. */
  db: Db;
  store: Store;
  limiter: BruteForce;
  keys: KeyStore;
  tokens: TokenService;
  devOtps: DevOtpStore;
  authenticator: Authenticator;
  sessions: SessionManager;
  caches: Caches;
  bus: InvalidationBus;
}

/** A server instance, built from injected dependencies (no singletons). */
export interface App {
  config: Config;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  readiness: Readiness;
  /** Public keys for /.well-known/jwks.json. */
  keys: Pick<KeyStore, "jwks">;
  handlers: ServiceHandlers;
  interceptors: Interceptor[];
  routerOptions: ConnectRouterOptions;
  hooks: TestHooks;
  close(): Promise<void>;
}

export class PolicyMissingError extends Error {}

export async function createApp(deps: AppDeps & { database: Database }): Promise<App> {
  const problems = policyProblems(SERVICES);
  if (problems.length) throw new PolicyMissingError(`refusing to start: methods whose access policy cannot be enforced: ${problems.join("; ")}`);

  const core = await createCore(deps);
  const { config, clock, log } = core;
  const rbac = await wireRbac(core);
  const sessions = wireSessions(core);
  const mfa = wireMfa(core, sessions);
  const federation = wireFederation(core, sessions);
  const passkeys = wirePasskeys(core, sessions);
  const tenancy = wireTenancy(core);
  const accounts = await wireAccounts(core, { rbac, sessions, mfa, federation, tenancy });
  const operations = wireOperations(core);
  const handlers: ServiceHandlers = {
    ...operations.handlers,
    ...accounts.handlers,
    ...rbac.handlers,
    ...mfa.handlers,
    ...federation.handlers,
    ...passkeys.handlers,
    ...tenancy.handlers,
  };

  // Listed outermost first: connect-es applies the first interceptor of the array first.
  const interceptors: Interceptor[] = [
    requestLogInterceptor(log),
    metricsInterceptor(core.metrics),
    errorsInterceptor(log),
    deadlineInterceptor(),
    // Network budgets by the policy's rate_class (credential paths and sign-ups).
    rateLimitInterceptor(core.limiter),
    authnInterceptor(accounts.authenticator),
    policyInterceptor({ dev: config.dev, orgAccess: tenancy.orgAccess, clock }),
    // Shape rules from the protos, once the caller may call at all (anonymous callers learn nothing).
    validationInterceptor(),
  ];

  const rotation = setInterval(() => {
    core.keys.rotateIfDue().catch((err) => log.warn({ err: { message: err?.message } }, "scheduled key rotation failed"));
    core.keys.reload().catch(() => {});
  }, 60_000);
  rotation.unref();

  return {
    config,
    clock,
    log,
    metrics: core.metrics,
    readiness: core.readiness,
    keys: core.keys,
    handlers,
    interceptors,
    routerOptions: { interceptors, readMaxBytes: config.max_message_bytes, writeMaxBytes: config.max_message_bytes },
    hooks: {
      db: core.database.db,
      store: core.store,
      limiter: core.limiter,
      keys: core.keys,
      tokens: core.tokens,
      devOtps: mfa.devOtps,
      authenticator: accounts.authenticator,
      sessions: sessions.sessions,
      caches: core.caches,
      bus: core.bus,
    },
    async close() {
      clearInterval(rotation);
      core.redis?.disconnect();
    },
  };
}
