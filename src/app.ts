import type { ConnectRouterOptions, Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import { KeyStore } from "./crypto/key-store.js";
import { createSecretBox, resolveMasterKey } from "./crypto/master-key.js";
import { createArgon2Hasher, type PasswordHasher } from "./crypto/password-hasher.js";
import { TokenService } from "./crypto/token-service.js";
import type { Database } from "./db/client.js";
import { AuditRepository } from "./db/repositories/audit-repository.js";
import { SessionRepository } from "./db/repositories/session-repository.js";
import { SigningKeyRepository } from "./db/repositories/signing-key-repository.js";
import { UserRepository } from "./db/repositories/user-repository.js";
import { AuditLog } from "./domain/audit/audit-log.js";
import { AuthService } from "./domain/auth/auth-service.js";
import { LoginLimiter } from "./domain/auth/login-limiter.js";
import { PasswordPolicy } from "./domain/auth/password-policy.js";
import { SessionManager, type SessionTimeouts } from "./domain/session/session-manager.js";
import { SessionQueries } from "./domain/session/session-queries.js";
import { UserAdmin } from "./domain/user/user-admin.js";
import type { AdminDeps } from "./handlers/admin.js";
import { authnInterceptor, createAuthenticator, type Authenticator } from "./interceptors/authn.js";
import { errorsInterceptor } from "./interceptors/errors.js";
import { metricsInterceptor } from "./interceptors/metrics.js";
import { policyInterceptor } from "./interceptors/policy.js";
import { requestLogInterceptor } from "./interceptors/request-log.js";
import { Metrics } from "./metrics.js";
import { methodsWithoutPolicy } from "./policy.js";
import { Readiness } from "./readiness.js";
import { SERVICES } from "./routes.js";

export interface AppDeps {
  config: Config;
  database: Database;
  clock: Clock;
  log: Logger;
  /** Tests may share one hasher across apps to save start-up time. */
  hasher?: PasswordHasher;
}

/** Everything a server instance needs, built from injected dependencies (no singletons). */
export interface App {
  config: Config;
  database: Database;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  readiness: Readiness;
  keys: KeyStore;
  tokens: TokenService;
  audit: AuditLog;
  auditRepo: AuditRepository;
  sessions: SessionManager;
  sessionQueries: SessionQueries;
  auth: AuthService;
  userAdmin: UserAdmin;
  authenticator: Authenticator;
  limiter: LoginLimiter;
  adminDeps: AdminDeps;
  interceptors: Interceptor[];
  routerOptions: ConnectRouterOptions;
  close(): Promise<void>;
}

export class PolicyMissingError extends Error {}

export async function createApp(deps: AppDeps): Promise<App> {
  const missing = methodsWithoutPolicy(SERVICES);
  if (missing.length) throw new PolicyMissingError(`refusing to start: methods without an access policy: ${missing.join(", ")}`);

  const { config, database, clock, log } = deps;
  const db = database.db;
  const metrics = new Metrics();
  metrics.dbPoolMax.set(database.poolStats().max);
  const users = new UserRepository();
  const sessionRepo = new SessionRepository();
  const auditRepo = new AuditRepository();
  const audit = new AuditLog(db, auditRepo, clock);
  const timeouts: SessionTimeouts = {
    idleSeconds: config.session_idle_timeout,
    absoluteSeconds: config.session_absolute_timeout,
    cacheTtlSeconds: config.session_cache_ttl,
  };
  const box = createSecretBox(resolveMasterKey(config.master_key, config.data_dir, log));
  const keys = new KeyStore(db, new SigningKeyRepository(), box, clock, {
    algorithm: config.jwt_algorithm,
    hs256Secret: config.jwt_hs256_secret,
    rotationSeconds: config.signing_key_rotation,
    maxTokenTtlSeconds: Math.max(config.access_token_ttl, 3600),
  }, log);
  await keys.init();
  const tokens = new TokenService(keys, clock, { issuer: config.token_issuer, audience: config.token_audience, accessTokenTtlSeconds: config.access_token_ttl });
  const sessions = new SessionManager(database, sessionRepo, users, clock, timeouts, log);
  await sessions.start();
  const hasher = deps.hasher ?? (await createArgon2Hasher());
  const policy = new PasswordPolicy(config.password_min_score);
  const limiter = new LoginLimiter(config.login_max_failures, config.login_failure_window);
  const auth = new AuthService({ db, clock, users, sessionRepo, sessions, hasher, policy, limiter, tokens, audit });
  const userAdmin = new UserAdmin({ db, clock, users, sessionRepo, sessions, hasher, policy, audit });
  const sessionQueries = new SessionQueries({ db, clock, repo: sessionRepo, sessions, audit, timeouts });
  const authenticator = createAuthenticator(tokens, sessions);
  const readiness = new Readiness(database, metrics);

  if (config.admin_email && config.admin_password) {
    const r = await userAdmin.ensureBootstrapAdmin(config.admin_email, config.admin_password);
    if (r.created) log.info({ user_id: r.user.id }, "created the first administrator from configuration");
  }

  // Listed outermost first: connect-es applies the first interceptor of the array first.
  const interceptors: Interceptor[] = [
    requestLogInterceptor(log),
    metricsInterceptor(metrics),
    errorsInterceptor(log),
    authnInterceptor(authenticator),
    policyInterceptor({ dev: config.dev }),
  ];

  const rotation = setInterval(() => {
    keys.rotateIfDue().catch((err) => log.warn({ err: { message: err?.message } }, "scheduled key rotation failed"));
    keys.reload().catch(() => {});
  }, 60_000);
  rotation.unref();

  return {
    config,
    database,
    clock,
    log,
    metrics,
    readiness,
    keys,
    tokens,
    audit,
    auditRepo,
    sessions,
    sessionQueries,
    auth,
    userAdmin,
    authenticator,
    limiter,
    adminDeps: { database, clock, startedAt: clock.now(), users, sessions: sessionRepo, auditRepo, audit, keys, idleTimeoutSeconds: timeouts.idleSeconds },
    interceptors,
    routerOptions: { interceptors, readMaxBytes: config.max_message_bytes, writeMaxBytes: config.max_message_bytes },
    async close() {
      clearInterval(rotation);
    },
  };
}
