import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import { KeyStore } from "../crypto/key-store.js";
import { createKeyedHasher, createSecretBox, resolveMasterKey, type KeyedHasher, type SecretBox } from "../crypto/master-key.js";
import { createArgon2Hasher, type PasswordHasher } from "../crypto/password-hasher.js";
import { TokenService } from "../crypto/token-service.js";
import type { Database } from "../db/client.js";
import { createStore } from "../db/store.js";
import { AuditLog } from "../domain/audit/audit-log.js";
import { Caches } from "../domain/cache/caches.js";
import { PasswordPolicy } from "../domain/auth/password-policy.js";
import { InvalidationBus } from "../domain/invalidation.js";
import type { BruteForce } from "../domain/ratelimit/brute-force.js";
import { createBruteForce } from "./brute-force.js";
import type { Store } from "../domain/store/stores.js";
import { Metrics } from "../metrics.js";
import { Readiness } from "../readiness.js";

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
  keys: KeyStore;
  tokens: TokenService;
  audit: AuditLog;
  limiter: BruteForce;
  redis?: Redis;
  hasher: PasswordHasher;
  passwordPolicy: PasswordPolicy;
  /** Every per-instance cache, bounded in size and age. */
  caches: Caches;
}

export async function createCore(deps: CoreDeps): Promise<Core> {
  const { config, database, clock, log } = deps;
  const store = createStore(database.db);
  const metrics = new Metrics();
  metrics.dbPoolMax.set(database.poolStats().max);
  const bus = new InvalidationBus(database, log);
  await bus.start();
  const masterKey = resolveMasterKey(config.master_key, config.data_dir, log);
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
  return {
    config,
    database,
    clock,
    log,
    store,
    bus,
    metrics,
    readiness: new Readiness(database, metrics),
    masterKey,
    box,
    keyedHash: createKeyedHasher(masterKey),
    keys,
    tokens,
    audit: new AuditLog(store, clock),
    limiter,
    redis,
    hasher: deps.hasher ?? (await createArgon2Hasher()),
    passwordPolicy: new PasswordPolicy(config.password_min_score),
    caches,
  };
}
