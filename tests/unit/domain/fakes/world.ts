import { ManualClock } from "../../../../src/clock.js";
import { loadConfig, type Config } from "../../../../src/config.js";
import { KeyStore } from "../../../../src/crypto/key-store.js";
import { createKeyedHasher, createSecretBox, type KeyedHasher, type SecretBox } from "../../../../src/crypto/master-key.js";
import { TokenService } from "../../../../src/crypto/token-service.js";
import { ApiKeys } from "../../../../src/domain/apikey/api-keys.js";
import { AuditLog } from "../../../../src/domain/audit/audit-log.js";
import { AuthService } from "../../../../src/domain/auth/auth-service.js";
import { PasswordPolicy } from "../../../../src/domain/auth/password-policy.js";
import { SignIn } from "../../../../src/domain/auth/sign-in.js";
import { Caches } from "../../../../src/domain/cache/caches.js";
import { InvalidationBus } from "../../../../src/domain/invalidation.js";
import { MfaFactors } from "../../../../src/domain/mfa/mfa-factors.js";
import { MfaVerification } from "../../../../src/domain/mfa/mfa-verification.js";
import { OtpSender } from "../../../../src/domain/mfa/otp.js";
import { DevOtpStore, type SmsSender } from "../../../../src/domain/mfa/sms-sender.js";
import { OrgAccess } from "../../../../src/domain/org/org-access.js";
import { Organizations } from "../../../../src/domain/org/organizations.js";
import type { BruteForce } from "../../../../src/domain/ratelimit/brute-force.js";
import { RoleCatalog } from "../../../../src/domain/rbac/role-catalog.js";
import { SessionManager } from "../../../../src/domain/session/session-manager.js";
import { UserAdmin } from "../../../../src/domain/user/user-admin.js";
import { EmailVerification } from "../../../../src/domain/user/email-verification.js";
import type { EmailMessage, EmailSender } from "../../../../src/domain/email/email-sender.js";
import { createLogger } from "../../../../src/logger.js";
import { createBruteForce } from "../../../../src/wiring/brute-force.js";
import { countingHasher, type CountingHasher } from "./counting-hasher.js";
import { MemoryChannel } from "./memory-channel.js";
import { LockRegistry } from "../../../../src/domain/lock/lock-registry.js";
import { MemoryStore } from "./memory-store.js";

/** Settings as WARDEN_* would give them ("30s", 5, ...); the rest keep their defaults. */
export type Settings = Partial<Record<keyof Config, unknown>>;

const MASTER_KEY = "unit-tests-master-key-0123456789abcdef";
export const START = new Date("2030-01-01T00:00:00Z");

/** Mail that would go out. */
export class MemoryMail implements EmailSender {
  readonly sent: EmailMessage[] = [];
  async send(message: EmailMessage): Promise<void> {
    this.sent.push(message);
  }
}

/** Texts that would go out by SMS. */
export class MemorySms implements SmsSender {
  readonly sent: { phone: string; text: string }[] = [];
  async send(phone: string, text: string): Promise<void> {
    this.sent.push({ phone, text });
  }
}

/** One Warden instance's domain services over in-memory ports, wired as src/wiring wires them. */
export interface World {
  config: Config;
  clock: ManualClock;
  store: MemoryStore;
  channel: MemoryChannel;
  bus: InvalidationBus;
  box: SecretBox;
  keyedHash: KeyedHasher;
  caches: Caches;
  tokens: TokenService;
  limiter: BruteForce;
  hasher: CountingHasher;
  audit: AuditLog;
  sessions: SessionManager;
  signIn: SignIn;
  auth: AuthService;
  users: UserAdmin;
  orgAccess: OrgAccess;
  organizations: Organizations;
  apiKeys: ApiKeys;
  sms: MemorySms;
  mail: MemoryMail;
  emailVerification: EmailVerification;
  factors: MfaFactors;
  verification: MfaVerification;
}

/** zxcvbn loads its dictionaries once per score, not once per world. */
const policies = new Map<number, PasswordPolicy>();

/**
 * A fresh world: empty store, clock at START, its own brute-force counters. Pass `shared` (from
 * another world) to get a second instance over the same store, clock and notification channel.
 */
export async function createWorld(settings: Settings = {}, shared?: Pick<World, "store" | "clock" | "channel">): Promise<World> {
  const config = loadConfig({}, { master_key: MASTER_KEY, ...settings });
  const clock = shared?.clock ?? new ManualClock(START);
  const store = shared?.store ?? new MemoryStore();
  const channel = shared?.channel ?? new MemoryChannel();
  const log = createLogger("silent");

  // Core (src/wiring/core.ts)
  const bus = new InvalidationBus(channel, log);
  await bus.start();
  const box = createSecretBox(MASTER_KEY);
  const keyedHash = createKeyedHasher(MASTER_KEY);
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
  // Without a redis_url this is the in-memory engine, with the budgets the settings give.
  const limiter = createBruteForce(config).engine;
  const hasher = await countingHasher();
  const policy = policies.get(config.password_min_score) ?? new PasswordPolicy(config.password_min_score);
  policies.set(config.password_min_score, policy);
  const audit = new AuditLog(store, clock);

  // Sessions (src/wiring/sessions.ts) and accounts (src/wiring/accounts.ts)
  const timeouts = { idleSeconds: config.session_idle_timeout, absoluteSeconds: config.session_absolute_timeout, cacheTtlSeconds: config.session_cache_ttl };
  const sessions = new SessionManager({ store, bus, clock, timeouts, caches });
  // Email (src/wiring/email.ts): mail goes to an in-memory outbox.
  const mail = new MemoryMail();
  const emailVerification = new EmailVerification({
    store,
    clock,
    mail,
    devCodes: new DevOtpStore(false),
    hash: keyedHash,
    limiter,
    audit,
    linkUrl: config.email_verification_url,
    ttlSeconds: config.email_verification_ttl,
  });
  const requireVerifiedEmail = config.require_verified_email_to_sign_in;
  // The zero-trust gate and device proofs are tested on the real database (tests/integration/);
  // here no organization has rules, so the gate lets every sign-in through and no proof is sent.
  const gate = { check: async () => {} };
  const proofs = {
    verify: async () => {
      throw new Error("device proofs are not modelled in the in-memory world");
    },
  };
  // Locks are tested on the real database (tests/integration/locks.test.ts): here none is made.
  const locks = new LockRegistry({ store, clock, bus, log, refreshMs: 60_000 });
  const signIn = new SignIn({
    store,
    clock,
    sessions,
    tokens,
    audit,
    limiter,
    requireVerifiedEmail,
    verification: emailVerification,
    gate,
    devices: store.devices,
    locks,
  });
  const auth = new AuthService({
    store,
    clock,
    sessions,
    hasher,
    policy,
    limiter,
    tokens,
    audit,
    signIn,
    verification: emailVerification,
    box,
    proofs,
    gate,
    refreshGraceSeconds: config.refresh_reuse_grace,
    locks,
  });
  const users = new UserAdmin({ store, clock, sessions, hasher, policy, audit, roles: new RoleCatalog(store, caches, bus) });

  // Tenancy (src/wiring/tenancy.ts)
  const orgAccess = new OrgAccess(store);
  const organizations = new Organizations({
    store,
    clock,
    audit,
    bus,
    maxOrganizationsPerUser: config.max_organizations_per_user,
    requireVerifiedEmail: { toCreate: config.require_verified_email_to_create_organization, toJoin: config.require_verified_email_to_join_organization },
  });
  const apiKeys = new ApiKeys({ store, clock, orgAccess, audit, bus, caches });

  // MFA (src/wiring/mfa.ts)
  const sms = new MemorySms();
  const otp = new OtpSender(sms, new DevOtpStore(false), keyedHash, limiter);
  const factors = new MfaFactors({ store, clock, box, hash: keyedHash, otp, limiter, audit, bus, issuer: config.token_issuer });
  const verification = new MfaVerification({ store, clock, factors, otp, box, limiter, signIn, audit });

  return {
    config,
    clock,
    store,
    channel,
    bus,
    box,
    keyedHash,
    caches,
    tokens,
    limiter,
    hasher,
    audit,
    sessions,
    signIn,
    auth,
    users,
    orgAccess,
    organizations,
    apiKeys,
    sms,
    mail,
    emailVerification,
    factors,
    verification,
  };
}

/** Entries held now by one of the world's named caches ("sessions", "api_keys", ...). */
export function cached(w: World, name: string): number {
  const cache = w.caches.sizes().find((c) => c.name === name);
  if (!cache) throw new Error(`no cache named ${name}`);
  return cache.size;
}

/** Another instance of the same deployment: same database, clock and LISTEN/NOTIFY; its own caches. */
export function secondInstance(w: World, settings: Settings = {}): Promise<World> {
  return createWorld(settings, w);
}
