import type { DescService } from "@bufbuild/protobuf";
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
import type { EmailVerification } from "./domain/user/email-verification.js";
import type { BruteForce } from "./domain/ratelimit/brute-force.js";
import type { SessionManager } from "./domain/session/session-manager.js";
import type { Store } from "./domain/store/stores.js";
import type { Heartbeats } from "./domain/agent/heartbeats.js";
import type { ClusterTlsAuthority } from "./domain/ca/cluster-tls-authority.js";
import { WebLogin } from "./domain/auth/web-login.js";
import { authnInterceptor } from "./interceptors/authn.js";
import { callTimeoutInterceptor } from "./interceptors/call-timeout.js";
import { deadlineInterceptor } from "./interceptors/deadline.js";
import { errorsInterceptor } from "./interceptors/errors.js";
import { inputErrorInterceptor } from "./http/input-gate.js";
import { metricsInterceptor } from "./interceptors/metrics.js";
import { policyInterceptor } from "./interceptors/policy.js";
import { rateLimitInterceptor } from "./interceptors/rate-limit.js";
import { requestLogInterceptor } from "./interceptors/request-log.js";
import { validationInterceptor } from "./interceptors/validation.js";
import type { Metrics } from "./metrics.js";
import { policiesWith, policyProblems } from "./policy.js";
import type { Readiness } from "./readiness.js";
import { reflectionPolicies } from "./reflection/reflection-access.js";
import { servedServices, SERVICES, type ServiceHandlers } from "./routes.js";
import { pluginHandlers } from "./handlers/reserved.js";
import { wireAccounts } from "./wiring/accounts.js";
import { backchannelServices, wireBackchannel, type BackchannelArea } from "./wiring/backchannel.js";
import { createCore, type CoreDeps } from "./wiring/core.js";
import { wireEmail } from "./wiring/email.js";
import { wireFederation } from "./wiring/federation.js";
import { wireMfa } from "./wiring/mfa.js";
import { wireOperations } from "./wiring/operations.js";
import { wirePasskeys } from "./wiring/passkeys.js";
import { wireRbac } from "./wiring/rbac.js";
import { wireSessions } from "./wiring/sessions.js";
import { wireTenancy } from "./wiring/tenancy.js";
import { callPolicies } from "./domain/auth/call-policies.js";
import { wireDevices } from "./wiring/devices.js";
import { wireOrgPolicy } from "./wiring/org-policy.js";
import { wirePolicies } from "./wiring/policies.js";
import { wireSshCa } from "./wiring/ssh-ca.js";
import { wireNodes } from "./wiring/nodes.js";
import { wireTelemetry } from "./wiring/telemetry.js";
import { wireLocks } from "./wiring/locks.js";
import { wireRecordings } from "./wiring/recordings.js";
import { wireNotifications } from "./wiring/notifications.js";
import { wireAccessRequests } from "./wiring/access-requests.js";

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
  /** Agents' heartbeats, written in batches: tests flush them instead of waiting. */
  heartbeats: Pick<Heartbeats, "flush">;
  /** The access request expiry sweep: tests run it instead of waiting for its timer. */
  accessExpiry: { sweep(): Promise<number> };
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
  /** The verification link of the email (GET /v1/verify-email). */
  emailLinks: Pick<EmailVerification, "verifyToken">;
  handlers: ServiceHandlers;
  /** The services this server registers (SERVICES, less reflection when it is off). */
  services: DescService[];
  /** The SPA's cookie sign-in (POST /v1/webapi/login) and the CSRF tokens of cookie sessions. */
  webLogin: WebLogin;
  /** The cluster's X.509 CA: the auto TLS mode's server certificate, and the CA agents' client certificates chain to. */
  clusterTls: Pick<ClusterTlsAuthority, "issueServerCertificate" | "trustedPem">;
  /** The mail-server backchannel's own services and interceptors, served on its listener (when enabled). */
  backchannel?: BackchannelArea;
  interceptors: Interceptor[];
  routerOptions: ConnectRouterOptions;
  hooks: TestHooks;
  close(): Promise<void>;
}

export class PolicyMissingError extends Error {}

export async function createApp(deps: AppDeps & { database: Database }): Promise<App> {
  const problems = policyProblems([...SERVICES, ...backchannelServices("public")]);
  if (problems.length) throw new PolicyMissingError(`refusing to start: methods whose access policy cannot be enforced: ${problems.join("; ")}`);

  const core = await createCore(deps);
  const { config, clock, log } = core;
  const rbac = await wireRbac(core);
  const email = wireEmail(core);
  const orgPolicy = wireOrgPolicy(core);
  const accessPolicies = wirePolicies(core, { orgPolicy });
  const sessions = wireSessions(core, email, { orgPolicy, policies: accessPolicies });
  const mfa = wireMfa(core, sessions);
  const federation = wireFederation(core, sessions);
  const passkeys = wirePasskeys(core, sessions);
  const tenancy = wireTenancy(core);
  const devices = wireDevices(core, { sessions, orgPolicy });
  const sshCa = await wireSshCa(core, { rbac });
  const accounts = await wireAccounts(core, { rbac, email, sessions, mfa, federation, tenancy, devices, sshCa });
  const nodes = wireNodes(core, { sshCa, rbac, ssh: sessions.ssh });
  const webLogin = new WebLogin({
    auth: accounts.signIn,
    signIn: sessions.signIn,
    mfa: mfa.verification,
    passkeys: passkeys.passkeys,
    authenticator: accounts.authenticator,
    keyedHash: core.keyedHash,
    limiter: core.limiter,
  });
  const operations = wireOperations(core);
  const telemetry = wireTelemetry(core);
  const notifications = wireNotifications(core);
  const backchannel = config.backchannel_enabled ? wireBackchannel(core, { accounts, tenancy }) : undefined;
  // The audit chain head is signed at start (if it moved) and then on schedule.
  await operations.auditCheckpoints.start();
  const access = wireAccessRequests(core, { rbac });
  const handlers: ServiceHandlers = {
    ...operations.handlers,
    ...accounts.handlers,
    ...rbac.handlers,
    ...mfa.handlers,
    ...federation.handlers,
    ...passkeys.handlers,
    ...tenancy.handlers,
    ...orgPolicy.handlers,
    ...accessPolicies.handlers(sessions.contexts),
    ...devices.handlers,
    ...sshCa.handlers,
    ...nodes.handlers,
    ...telemetry.handlers,
    ...wireLocks(core),
    ...wireRecordings(core, { rbac }),
    ...access.handlers,
    plugin: pluginHandlers(),
    ...notifications.handlers,
  };

  // The proto's policies, with those the settings change (reflection's access).
  const policies = policiesWith(reflectionPolicies(config.reflection));
  // Listed outermost first: connect-es applies the first interceptor of the array first.
  const interceptors: Interceptor[] = [
    requestLogInterceptor(log),
    metricsInterceptor(core.metrics),
    errorsInterceptor(log),
    // A request the server's input gate refused (too large, undecodable): logged and counted as above.
    inputErrorInterceptor(),
    deadlineInterceptor(),
    callTimeoutInterceptor(config.call_timeout),
    // Network budgets by the policy's rate_class (credential paths and sign-ups).
    rateLimitInterceptor(core.limiter),
    authnInterceptor(accounts.authenticator, policies, nodes.agentCredentials, webLogin),
    policyInterceptor({
      dev: config.dev,
      orgAccess: tenancy.orgAccess,
      clock,
      policies,
      callPolicies: callPolicies(sessions.sessions, sessions.gate, core.store.devices),
    }),
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
    emailLinks: email.verification,
    handlers,
    services: servedServices(config.reflection),
    clusterTls: sshCa.tlsAuthority,
    webLogin,
    backchannel,
    interceptors,
    routerOptions: {
      interceptors,
      readMaxBytes: config.max_message_bytes,
      writeMaxBytes: config.max_message_bytes,
      // Connect JSON is read strictly: an unknown field or enum name is INVALID_ARGUMENT, not ignored.
      jsonOptions: { ignoreUnknownFields: false },
    },
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
      heartbeats: nodes.heartbeats,
      accessExpiry: access.expiry,
    },
    async close() {
      clearInterval(rotation);
      telemetry.stop();
      await notifications.worker.stop();
      await nodes.stop();
      core.locks.stop();
      core.grants.stop();
      access.expiry.stop();
      operations.auditCheckpoints.stop();
      core.redis?.disconnect();
    },
  };
}
