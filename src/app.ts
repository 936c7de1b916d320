import type { ConnectRouterOptions, Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import { KeyStore } from "./crypto/key-store.js";
import { createKeyedHasher, createSecretBox, resolveMasterKey } from "./crypto/master-key.js";
import { createArgon2Hasher, type PasswordHasher } from "./crypto/password-hasher.js";
import { TokenService } from "./crypto/token-service.js";
import type { Database } from "./db/client.js";
import { AuditRepository } from "./db/repositories/audit-repository.js";
import { SessionRepository } from "./db/repositories/session-repository.js";
import { SigningKeyRepository } from "./db/repositories/signing-key-repository.js";
import { UserRepository } from "./db/repositories/user-repository.js";
import { AuditLog } from "./domain/audit/audit-log.js";
import { AuthService } from "./domain/auth/auth-service.js";
import { SignIn } from "./domain/auth/sign-in.js";
import { MfaFactors } from "./domain/mfa/mfa-factors.js";
import { MfaVerification } from "./domain/mfa/mfa-verification.js";
import { OtpSender } from "./domain/mfa/otp.js";
import { createSmsSender } from "./domain/mfa/create-sms-sender.js";
import { DevOtpStore } from "./domain/mfa/sms-sender.js";
import { MfaRepository } from "./db/repositories/mfa-repository.js";
import { PasskeyRepository } from "./db/repositories/passkey-repository.js";
import { decoyKeyFrom, Passkeys } from "./domain/passkey/passkeys.js";
import { ConnectorRepository } from "./db/repositories/connector-repository.js";
import { IdentityRepository } from "./db/repositories/identity-repository.js";
import { Connectors } from "./domain/oidc/connectors.js";
import { FederatedSignIn } from "./domain/oidc/federated-sign-in.js";
import { IdTokenVerifier } from "./domain/oidc/id-token-verifier.js";
import { PasswordPolicy } from "./domain/auth/password-policy.js";
import { OrgAccess } from "./domain/org/org-access.js";
import { Organizations } from "./domain/org/organizations.js";
import { RoleAdmin } from "./domain/rbac/role-admin.js";
import { ApiKeys } from "./domain/apikey/api-keys.js";
import { ApiKeySessions } from "./domain/apikey/api-key-sessions.js";
import { ServiceAccounts } from "./domain/serviceaccount/service-accounts.js";
import { createBruteForce } from "./domain/ratelimit/create.js";
import type { BruteForce } from "./domain/ratelimit/brute-force.js";
import { rateLimitInterceptor } from "./interceptors/rate-limit.js";
import { ApiKeyRepository } from "./db/repositories/api-key-repository.js";
import { ServiceAccountRepository } from "./db/repositories/service-account-repository.js";
import { RoleRepository } from "./db/repositories/role-repository.js";
import { OrganizationRepository } from "./db/repositories/organization-repository.js";
import { InvalidationBus } from "./domain/invalidation.js";
import { SessionManager, type SessionTimeouts } from "./domain/session/session-manager.js";
import { SessionQueries } from "./domain/session/session-queries.js";
import { UserAdmin } from "./domain/user/user-admin.js";
import type { AdminDeps } from "./handlers/admin.js";
import { authnInterceptor, createAuthenticator, type Authenticator } from "./interceptors/authn.js";
import { deadlineInterceptor } from "./interceptors/deadline.js";
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
  signIn: SignIn;
  mfaFactors: MfaFactors;
  mfaVerification: MfaVerification;
  devOtps: DevOtpStore;
  mfaRepo: MfaRepository;
  passkeys: Passkeys;
  /** OIDC issuers (Google built in) and sign-in with their ID tokens. */
  connectors: Connectors;
  federatedSignIn: FederatedSignIn;
  userAdmin: UserAdmin;
  authenticator: Authenticator;
  /** The brute-force engine (account, address and network budgets). */
  limiter: BruteForce;
  organizations: Organizations;
  roles: RoleAdmin;
  apiKeys: ApiKeys;
  apiKeySessions: ApiKeySessions;
  serviceAccounts: ServiceAccounts;
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
  const masterKey = resolveMasterKey(config.master_key, config.data_dir, log);
  const box = createSecretBox(masterKey);
  const keyedHash = createKeyedHasher(masterKey);
  const keys = new KeyStore(
    db,
    new SigningKeyRepository(),
    box,
    clock,
    {
      algorithm: config.jwt_algorithm,
      hs256Secret: config.jwt_hs256_secret,
      rotationSeconds: config.signing_key_rotation,
      maxTokenTtlSeconds: Math.max(config.access_token_ttl, 3600),
    },
    log,
  );
  await keys.init();
  const tokens = new TokenService(keys, clock, {
    issuer: config.token_issuer,
    audience: config.token_audience,
    accessTokenTtlSeconds: config.access_token_ttl,
  });
  const bus = new InvalidationBus(database, log);
  await bus.start();
  const sessions = new SessionManager(database, bus, sessionRepo, users, clock, timeouts);
  sessions.start();
  const hasher = deps.hasher ?? (await createArgon2Hasher());
  const policy = new PasswordPolicy(config.password_min_score);
  const { engine: limiter, redis } = createBruteForce(config);
  const roles = new RoleAdmin(db, new RoleRepository(), audit, clock, bus);
  await roles.ensureBuiltins();
  const mfaRepo = new MfaRepository();
  const signIn = new SignIn({ db, clock, sessions, tokens, audit, mfa: mfaRepo, limiter });
  const auth = new AuthService({ db, clock, users, sessionRepo, sessions, hasher, policy, limiter, tokens, audit, signIn });
  const devOtps = new DevOtpStore(config.dev);
  const otp = new OtpSender(createSmsSender(config, log), devOtps, keyedHash, limiter);
  const mfaFactors = new MfaFactors({
    db,
    clock,
    repo: mfaRepo,
    users,
    sessionRepo,
    box,
    hash: keyedHash,
    otp,
    limiter,
    audit,
    bus,
    issuer: config.token_issuer,
  });
  const mfaVerification = new MfaVerification({ db, clock, repo: mfaRepo, users, factors: mfaFactors, otp, box, limiter, signIn, audit });
  const webauthn = { rpId: config.webauthn_rp_id, rpName: config.webauthn_rp_name, origins: config.webauthn_origins, decoyKey: decoyKeyFrom(masterKey) };
  const passkeys = new Passkeys({ db, clock, repo: new PasskeyRepository(), users, audit, signIn, settings: webauthn });
  const google = { clientIds: config.google_client_ids, issuer: config.google_issuer, jwksUrl: config.google_jwks_url };
  const connectors = new Connectors({ db, clock, repo: new ConnectorRepository(), audit, google });
  const federatedSignIn = new FederatedSignIn({
    db,
    clock,
    users,
    identities: new IdentityRepository(),
    connectors,
    verifier: new IdTokenVerifier(clock),
    audit,
    signIn,
  });
  const userAdmin = new UserAdmin({
    db,
    clock,
    users,
    sessionRepo,
    sessions,
    hasher,
    policy,
    audit,
    roleExists: async (names) => (await roles.unknownRoles(names)).length === 0,
  });
  const sessionQueries = new SessionQueries({ db, clock, repo: sessionRepo, sessions, audit, timeouts });
  const readiness = new Readiness(database, metrics);
  const orgRepo = new OrganizationRepository();
  const orgAccess = new OrgAccess(db, orgRepo);
  const apiKeyRepo = new ApiKeyRepository();
  const serviceAccountRepo = new ServiceAccountRepository();
  const organizations = new Organizations({ db, clock, orgs: orgRepo, users, audit, bus, maxOrganizationsPerUser: config.max_organizations_per_user });
  const cacheTtlSeconds = config.session_cache_ttl;
  const apiKeys = new ApiKeys({
    db,
    clock,
    keys: apiKeyRepo,
    orgs: orgRepo,
    users,
    serviceAccounts: serviceAccountRepo,
    orgAccess,
    audit,
    bus,
    cacheTtlSeconds,
  });
  const apiKeySessions = new ApiKeySessions(tokens);
  const serviceAccounts = new ServiceAccounts({
    db,
    clock,
    accounts: serviceAccountRepo,
    keys: apiKeyRepo,
    orgs: orgRepo,
    tokens,
    audit,
    bus,
    cacheTtlSeconds,
  });
  const authenticator = createAuthenticator({ tokens, sessions, apiKeys, serviceAccounts, limiter });

  if (config.admin_email && config.admin_password) {
    const r = await userAdmin.ensureBootstrapAdmin(config.admin_email, config.admin_password);
    if (r.created) log.info({ user_id: r.user.id }, "created the first administrator from configuration");
  }

  // Listed outermost first: connect-es applies the first interceptor of the array first.
  const interceptors: Interceptor[] = [
    requestLogInterceptor(log),
    metricsInterceptor(metrics),
    errorsInterceptor(log),
    deadlineInterceptor(),
    // Network budgets by the policy's rate_class (ValidateApiKey, AuthenticateServiceAccount, sign-in, sign-up).
    rateLimitInterceptor(limiter),
    authnInterceptor(authenticator),
    policyInterceptor({ dev: config.dev, orgAccess, clock }),
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
    signIn,
    mfaFactors,
    mfaVerification,
    devOtps,
    mfaRepo,
    passkeys,
    connectors,
    federatedSignIn,
    userAdmin,
    authenticator,
    limiter,
    organizations,
    roles,
    apiKeys,
    apiKeySessions,
    serviceAccounts,
    adminDeps: { database, clock, startedAt: clock.now(), users, sessions: sessionRepo, auditRepo, audit, keys, idleTimeoutSeconds: timeouts.idleSeconds },
    interceptors,
    routerOptions: { interceptors, readMaxBytes: config.max_message_bytes, writeMaxBytes: config.max_message_bytes },
    async close() {
      clearInterval(rotation);
      redis?.disconnect();
    },
  };
}
