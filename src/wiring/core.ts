import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import { AuditChainKeys } from "../crypto/audit-chain-keys.js";
import { KeyStore } from "../crypto/key-store.js";
import { createKeyedHasher, createSecretBox, resolveMasterKey, type KeyedHasher, type SecretBox } from "../crypto/master-key.js";
import { createArgon2Hasher, type PasswordHasher } from "../crypto/password-hasher.js";
import { TokenService } from "../crypto/token-service.js";
import type { Database } from "../db/client.js";
import { createStore } from "../db/store.js";
import { ClusterConfigs } from "../domain/cluster/cluster-config.js";
import { AuditLog } from "../domain/audit/audit-log.js";
import { DevOtpStore } from "../domain/mfa/sms-sender.js";
import { Caches } from "../domain/cache/caches.js";
import { OrgDirectory } from "../domain/org/org-directory.js";
import { OrgAccess } from "../domain/org/org-access.js";
import { PasswordPolicy } from "../domain/auth/password-policy.js";
import { InvalidationBus } from "../domain/invalidation.js";
import { LockRegistry } from "../domain/lock/lock-registry.js";
import { AccessGrants } from "../domain/access/access-grants.js";
import type { BruteForce } from "../domain/ratelimit/brute-force.js";
import { createBruteForce } from "./brute-force.js";
import type { Store } from "../domain/store/stores.js";
import { Metrics } from "../metrics.js";
import { Readiness, type Dependency } from "../readiness.js";

export interface CoreDeps {
  config: Config;
  database: Database;
  clock: Clock;
  log: Logger;
  /** Tests may share one hasher across apps to save start-up time. */
  hasher?: PasswordHasher;
}

/** What every area shares: storage, time, keys, tokens, the audit writer and the brute-force engine. */
export interface Core {
  config: Config;
  database: Database;
  clock: Clock;
  log: Logger;
  store: Store;
  bus: InvalidationBus;
  metrics: Metrics;
  readiness: Readiness;
  masterKey: string;
  box: SecretBox;
  keyedHash: KeyedHasher;
  /** The audit chain's HMAC keys, derived from the master key by version. */
  auditChainKeys: AuditChainKeys;
  keys: KeyStore;
  tokens: TokenService;
  audit: AuditLog;
  limiter: BruteForce;
  redis?: Redis;
  hasher: PasswordHasher;
  passwordPolicy: PasswordPolicy;
  /** Every per-instance cache, bounded in size and age. */
  caches: Caches;
  /** Organizations and memberships for the per-call access checks, cached and invalidated by the bus. */
  orgDirectory: OrgDirectory;
  /** Who may act in an organization, read through the directory. */
  orgAccess: OrgAccess;
  /** One-time codes last sent to each phone or address, kept only in dev mode (DevService.GetOTP). */
  devCodes: DevOtpStore;
  /** The SSH platform's cluster settings in force (the settings file's, changed by UpdateClusterConfig). */
  cluster: ClusterConfigs;
  /** The admins' locks in force, checked at every credential issue and call (LockService). */
  locks: LockRegistry;
  /** The roles approved access requests grant, added to their users' roles at every call (AccessRequestService). */
  grants: AccessGrants;
}

/** Locks are reloaded this often besides their notifications (one lost with its connection). */
const LOCK_REFRESH_MS = 30_000;

export async function createCore(deps: CoreDeps): Promise<Core> {
  const { config, database, clock, log } = deps;
  const masterKey = resolveMasterKey(config.master_key, config.master_key_file, config.data_dir, log);
  // The database computes each audit link (one statement per append): the store holds the current chain key.
  const auditChainKeys = new AuditChainKeys(masterKey, config.audit_chain_key_version);
  const store = createStore(database.db, auditChainKeys.current);
  const metrics = new Metrics();
  metrics.dbPoolMax.set(database.poolStats().max);
  const bus = new InvalidationBus(database, log);
  await bus.start();
  // After the bus listens, so no grant or lock made while these load is missed.
  const grants = new AccessGrants({ store, clock, bus, log, refreshMs: LOCK_REFRESH_MS });
  await grants.start();
  // Role locks cover roles held through a grant too.
  const locks = new LockRegistry({ store, clock, bus, log, refreshMs: LOCK_REFRESH_MS, grants });
  await locks.start();
  const box = createSecretBox(masterKey);
  const keys = new KeyStore(
    store,
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
  const caches = new Caches(clock, { maxEntries: config.cache_max_entries, ttlSeconds: config.session_cache_ttl });
  metrics.watchCaches(() => caches.sizes());
  const tokens = new TokenService(
    keys,
    clock,
    {
      issuer: config.token_issuer,
      audience: config.token_audience,
      accessTokenTtlSeconds: config.access_token_ttl,
      verifiedCacheSeconds: Math.max(config.access_token_ttl, 3600),
    },
    caches,
  );
  const { engine: limiter, redis } = createBruteForce(config);
  const orgDirectory = new OrgDirectory({ store, caches, bus, ttlSeconds: config.session_cache_ttl });
  const audit = new AuditLog(store, clock);
  const cluster = new ClusterConfigs({
    store,
    clock,
    audit,
    bus,
    defaults: {
      cluster_name: config.cluster_name,
      ssh_cert_max_ttl: config.ssh_cert_max_ttl,
      ssh_cert_default_ttl: config.ssh_cert_default_ttl,
      agent_cert_ttl: config.agent_cert_ttl,
      node_heartbeat_interval: config.node_heartbeat_interval,
      node_offline_after: config.node_offline_after,
      session_recording_mode: config.session_recording_mode,
    },
  });
  await cluster.start();
  return {
    config,
    database,
    clock,
    log,
    store,
    bus,
    metrics,
    readiness: new Readiness(database, metrics, redis ? [redisDependency(redis)] : []),
    masterKey,
    box,
    keyedHash: createKeyedHasher(masterKey),
    auditChainKeys,
    keys,
    tokens,
    audit,
    limiter,
    redis,
    hasher: deps.hasher ?? (await createArgon2Hasher()),
    passwordPolicy: new PasswordPolicy(config.password_min_score),
    caches,
    orgDirectory,
    // An organization-scoped call costs no database read when nothing changed.
    orgAccess: new OrgAccess({ orgs: orgDirectory }),
    devCodes: new DevOtpStore(config.dev),
    locks,
    grants,
    cluster,
  };
}

/** The brute-force counters' Redis, as /readyz and the health checks see it. */
function redisDependency(redis: Redis): Dependency {
  return {
    name: "redis",
    async ping(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
      try {
        return await Promise.race([redis.ping().then((r) => r === "PONG"), timeout]);
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
