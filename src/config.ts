import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { providerUrlProblem } from "./domain/oidc/provider-url.js";
import { RATE_CLASSES } from "./domain/ratelimit/brute-force.js";

/** "90", "90s", "15m", "12h", "30d" -> seconds. */
export function parseDuration(value: unknown): unknown {
  if (typeof value === "number") return value;
  if (typeof value !== "string") return value;
  const match = /^(\d+)\s*(s|m|h|d)?$/.exec(value.trim());
  if (!match) return value;
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[match[2] ?? "s"]!;
  return Number(match[1]) * unit;
}

/** "otp=30,api_key=1000/5000" -> { otp: { address: 30 }, api_key: { address: 1000, subnet: 5000 } }; anything unreadable is left for zod to refuse. */
function parseRateClassBudgets(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const out: Record<string, { address: number; subnet?: number }> = {};
  for (const entry of listOf(value)) {
    const m = /^([a-z_]+)=(\d+)(?:\/(\d+))?$/.exec(entry);
    if (!m) return entry;
    out[m[1]!] = { address: Number(m[2]), ...(m[3] ? { subnet: Number(m[3]) } : {}) };
  }
  return out;
}

const seconds = (def: number) => z.preprocess(parseDuration, z.number().int().positive()).default(def);
const bool = (def: boolean) =>
  z.preprocess((v) => (typeof v === "string" ? ["1", "true", "yes", "on"].includes(v.toLowerCase()) : v), z.boolean()).default(def);
const int = (def: number, min: number, max: number) =>
  z.preprocess((v) => (typeof v === "string" && v.trim() !== "" ? Number(v) : v), z.number().int().min(min).max(max)).default(def);

export const configSchema = z
  .object({
    addr: z
      .string()
      .regex(/^(\[[^\]]+\]|[^:]+):\d{1,5}$/, "must be host:port")
      .default("127.0.0.1:8080"),
    data_dir: z.string().min(1).default("./data"),
    database_url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL")
      .optional(),
    log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    dev: bool(false),
    // gRPC server reflection (grpc.reflection.v1 and v1alpha): open to anyone, only to
    // authenticated callers, or not served at all.
    reflection: z.enum(["public", "authenticated", "off"]).default("public"),

    tls_cert_file: z.string().optional(),
    tls_key_file: z.string().optional(),
    min_tls_version: z.enum(["TLS1.2", "TLS1.3"]).default("TLS1.2"),
    tls_client_ca_file: z.string().optional(),
    require_client_cert: bool(false),
    // The auto TLS mode: the server presents a certificate from the cluster's own X.509 CA (the one
    // GetTrustedCAs lists and agents pin) for these names, renewed before it expires; no files needed.
    tls_auto: bool(false),
    tls_auto_names: z.preprocess((v) => (typeof v === "string" ? listOf(v) : v), z.array(z.string().min(1))).default(["localhost"]),
    // Allows a cleartext listener on a non-loopback address because a proxy in front terminates TLS.
    tls_terminated_upstream: bool(false),

    max_message_bytes: int(4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    // Read limits checked before a request is decoded (src/http/input-gate.ts): methods anyone may
    // call (ACCESS_PUBLIC) read at most max_public_message_bytes; JSON nests at most max_json_depth.
    max_public_message_bytes: int(64 * 1024, 1024, 64 * 1024 * 1024),
    max_json_depth: int(64, 2, 1000),
    // Unary calls served straight from node's HTTP/2 streams and HTTP/1.1 requests
    // (src/http/fast/), with the same handlers and answers as connect-node; off: connect-node alone.
    fast_path: bool(true),
    // Session recordings (RecordingService): the most one recording and one streamed chunk may hold.
    recording_max_bytes: int(64 * 1024 * 1024, 1024, 16 * 1024 * 1024 * 1024),
    recording_max_chunk_bytes: int(256 * 1024, 1024, 4 * 1024 * 1024),
    // Connection limits (src/http/connection-limits.ts): counts, header sizes and timeouts.
    max_connections: int(4096, 1, 1_000_000),
    max_sessions_per_address: int(32, 1, 100_000),
    http2_max_concurrent_streams: int(100, 1, 10_000),
    max_header_list_bytes: int(64 * 1024, 4096, 1024 * 1024),
    connection_idle_timeout: seconds(65),
    headers_timeout: seconds(20),
    request_body_timeout: seconds(60),
    stream_idle_timeout: seconds(30),
    shutdown_grace: seconds(10),
    // The longest a unary call may take before it answers UNAVAILABLE (a hung database, say).
    call_timeout: seconds(15),
    // PostgreSQL's statement_timeout for every query of this server.
    database_statement_timeout: seconds(10),

    master_key: z.string().min(32, "must be at least 32 characters").optional(),
    // A file that holds the master key (kept outside data_dir, e.g. a mounted secret).
    master_key_file: z.string().min(1).optional(),
    jwt_algorithm: z.enum(["EdDSA", "ES256", "HS256"]).default("EdDSA"),
    jwt_hs256_secret: z.string().min(32, "must be at least 32 characters").optional(),
    token_issuer: z.string().default("warden"),
    token_audience: z.string().default("warden"),
    access_token_ttl: seconds(15 * 60),
    signing_key_rotation: seconds(30 * 86400),
    // New audit links are HMACs under the key derived as audit-chain:v<N>; raising N rotates it.
    audit_chain_key_version: int(1, 1, 100_000),
    // How often the audit chain head is signed (checked every minute): 1 minute to 1 day.
    audit_checkpoint_interval: z.preprocess(parseDuration, z.number().int().min(60).max(86400)).default(3600),

    session_idle_timeout: seconds(12 * 3600),
    session_absolute_timeout: seconds(7 * 86400),
    session_cache_ttl: seconds(5),
    // The same client presenting a just-used refresh token again within this many seconds gets the
    // token it was given (a lost answer, a second tab); 0 turns it off. Later or elsewhere: reuse.
    refresh_reuse_grace: int(2, 0, 60),
    // Entries each per-instance cache holds at most (sessions, API keys, service accounts, roles, verified tokens).
    cache_max_entries: int(50_000, 100, 10_000_000),

    admin_email: z.string().email().optional(),
    admin_password: z.string().optional(),

    // Failed attempts at one account from one client address per window.
    login_max_failures: int(10, 1, 100),
    // Failed attempts at one account from all addresses per window; past it, only networks the
    // owner signed in from before may try a password (NIST SP 800-63B: at most 100).
    account_max_failures: int(100, 1, 100),
    // The window of every failure budget: 1 minute to 1 day.
    login_failure_window: z.preprocess(parseDuration, z.number().int().min(60).max(86400)).default(15 * 60),
    password_min_score: int(3, 0, 4),
    // Failed API-key and service-account-secret attempts per client address per login_failure_window.
    network_max_failures: int(100, 1, 10_000_000),
    // Failed credential attempts per /24 (IPv4) or /64 (IPv6) per window; ten times as many per day.
    subnet_max_failures: int(1000, 1, 100_000_000),
    // Per credential kind, its own per-address (and per-network) failure budget instead of the two
    // above: "otp=30,api_key=1000/5000" (kinds: password, refresh_token, otp, passkey, api_key, service_account,
    // join_token, agent_token).
    rate_class_budgets: z
      .preprocess(
        parseRateClassBudgets,
        z.partialRecord(z.enum(RATE_CLASSES), z.object({ address: z.number().int().min(1), subnet: z.number().int().min(1).optional() })),
      )
      .default({}),
    signups_per_address_per_hour: int(20, 1, 100_000),
    otp_sends_per_phone_per_hour: int(5, 1, 1000),
    otp_sends_per_address_per_hour: int(30, 1, 100_000),
    // Passkey sign-in ceremonies started from one client address per hour, successful or not.
    passkey_starts_per_address_per_hour: int(120, 1, 1_000_000),
    // Device challenges (CreateDeviceChallenge) from one client address (IPv6: its /64) per hour.
    device_challenges_per_address_per_hour: int(600, 1, 1_000_000),
    // A device's posture report older than this counts as unknown in policies.
    device_posture_max_age: seconds(86400),
    // OpenSSH user certificates (AuthService/IssueUserCerts): the validity when the request names
    // none, and the longest one whatever the roles' max_session_ttl allow.
    ssh_cert_default_ttl: seconds(12 * 3600),
    ssh_cert_max_ttl: seconds(30 * 3600),
    // The cluster's name, returned to agents at registration and put in their certificates.
    cluster_name: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9.-]{0,62})$/, "lower-case letters, digits, dots and dashes")
      .default("warden"),
    // Join tokens (JoinService/CreateJoinToken): the lifetime when none is asked for, and the longest.
    join_token_default_ttl: seconds(30 * 60),
    join_token_max_ttl: seconds(7 * 86400),
    // Validity of a node's host certificate and of an agent's mTLS client certificate.
    agent_cert_ttl: seconds(30 * 86400),
    // How often agents are told to heartbeat, and how long without one before a node is offline.
    node_heartbeat_interval: seconds(30),
    node_offline_after: seconds(90),
    // Where SSH sessions are recorded (AdminService/UpdateClusterConfig can change it at run time).
    session_recording_mode: z.enum(["off", "node", "node-sync"]).default("node"),
    // The IAM join (RegisterUsingIAMMethod): where a node's signed sts:GetCallerIdentity goes, and how long STS may take.
    sts_endpoint: z.string().url().default("https://sts.amazonaws.com/"),
    sts_timeout_ms: int(5000, 100, 60_000),
    // SPIFFE (AuthenticateSPIFFE): the trust bundle (PEM file of CA certificates) and trust domain
    // SVIDs must chain to; rules "spiffe://<domain>/<path, * at the end for a prefix>=<role>"
    // separated by ";" (first match wins); the longest certificate it issues.
    spiffe_trust_bundle_file: z.string().optional(),
    spiffe_trust_domain: z.string().optional(),
    spiffe_role_map: z.string().default(""),
    spiffe_cert_max_ttl: seconds(3600),
    // OPA server for policies of language Rego (its Data API, POST /v1/data/<path>); unset: Rego policies deny.
    opa_url: z.string().url().optional(),
    // The longest one OPA decision may take; past it the policy denies.
    opa_timeout_ms: int(1000, 10, 30_000),
    // Cost limit of one CEL policy evaluation, and the wall time all of an organization's policies may take.
    policy_cel_cost_limit: int(100_000, 100, 100_000_000),
    policy_eval_timeout_ms: int(250, 10, 30_000),
    // Telemetry partitions older than this many days are dropped.
    telemetry_retention_days: int(30, 1, 3650),
    // Telemetry events one organization may send per minute (over every instance when redis_url is set).
    telemetry_events_per_org_per_minute: int(600_000, 1, 100_000_000),
    // Notification channels (NotificationService): webhooks are https and never reach loopback, private
    // or link-local addresses; this also allows http:// and https:// to loopback only (tests, development).
    notification_allow_loopback: bool(false),
    // One webhook attempt's time limit; attempts before a delivery is marked failed; the first retry's
    // delay, doubled at each further attempt (at most an hour).
    notification_timeout: seconds(10),
    notification_max_attempts: int(8, 1, 20),
    notification_retry_base: seconds(30),
    // SMS codes go to this webhook as POST {to, text}; unset, they are only logged (the text in dev mode).
    sms_webhook_url: z.string().url().optional(),
    sms_webhook_token: z.string().optional(),
    sms_webhook_timeout: seconds(5),
    sms_webhook_retries: int(2, 0, 5),
    // Counters in Redis (shared by every instance) instead of in memory.
    redis_url: z
      .string()
      .regex(/^rediss?:\/\//, "must be a redis:// URL")
      .optional(),
    // Comma-separated addresses or CIDRs of proxies whose X-Forwarded-For is believed.
    trusted_proxies: z.string().default(""),
    // Exact origins of the web pages that may call the RPCs from a browser (CORS, src/http/cors.ts),
    // comma-separated; empty = no CORS headers at all.
    cors_allowed_origins: z
      .preprocess(
        (v) => (typeof v === "string" ? listOf(v) : v),
        z.array(
          z.string().refine((o) => isOrigin(o) && !o.includes("*"), {
            error: (issue) =>
              `"${String(issue.input)}" is not an origin as a browser sends it: scheme://host[:port], lowercase, no default port, no path, no wildcard`,
          }),
        ),
      )
      .default([]),
    max_organizations_per_user: int(10, 1, 10_000),

    // Email (verification codes and links) through an SMTP server; unset, mail is only logged (the text in dev mode).
    smtp_host: z.string().min(1).optional(),
    smtp_port: int(587, 1, 65_535),
    // TLS from the first byte (port 465); otherwise STARTTLS, which smtp_require_tls insists on.
    smtp_secure: bool(false),
    smtp_require_tls: bool(true),
    smtp_username: z.string().optional(),
    smtp_password: z.string().optional(),
    smtp_from: z.string().min(3).default("Warden <no-reply@localhost>"),
    smtp_tls_ca_file: z.string().optional(),
    smtp_timeout: seconds(10),
    // The page the verification link opens, with ?token= appended (Warden serves one at /v1/verify-email).
    email_verification_url: z.string().url().default("http://localhost:8080/v1/verify-email"),
    email_verification_ttl: seconds(24 * 3600),
    verification_emails_per_address_per_hour: int(20, 1, 100_000),
    verification_emails_per_recipient_per_hour: int(5, 1, 1000),
    // What an account whose email is not verified may not do (it is never linked to a federated identity).
    require_verified_email_to_sign_in: bool(false),
    require_verified_email_to_create_organization: bool(false),
    require_verified_email_to_join_organization: bool(false),

    // WebAuthn relying party: a domain (no scheme or port), and the exact origins of the pages
    // that may run passkey ceremonies (comma-separated), each on that domain or a subdomain.
    webauthn_rp_id: z
      .string()
      .regex(/^[a-z0-9.-]+$/i, "must be a domain name, without scheme or port")
      .default("localhost"),
    webauthn_rp_name: z.string().min(1).max(100).default("Warden"),
    webauthn_origins: z
      .preprocess(
        (v) =>
          typeof v === "string"
            ? v
                .split(",")
                .map((s) => s.trim())
                .filter(Boolean)
            : v,
        z.array(z.string().refine(isOrigin, "each must be an origin such as https://example.com")).min(1, "needs at least one origin"),
      )
      .default(["http://localhost:8080"]),

    // The mail-server backchannel (nauthilus.auth.v1.AuthService) on its own listener.
    backchannel_enabled: bool(true),
    backchannel_address: z
      .string()
      .regex(/^(\[[^\]]+\]|[^:]+):\d{1,5}$/, "must be host:port")
      .default("127.0.0.1:9444"),
    backchannel_tls_cert_file: z.string().optional(),
    backchannel_tls_key_file: z.string().optional(),
    backchannel_tls_client_ca_file: z.string().optional(),
    backchannel_min_tls_version: z.enum(["TLS1.2", "TLS1.3"]).default("TLS1.2"),
    backchannel_require_client_cert: bool(false),
    // Callers: HTTP Basic with this pair, and/or a service account's token with the backchannel scope.
    backchannel_basic_auth_enabled: bool(false),
    backchannel_basic_auth_username: z.string().min(1).optional(),
    backchannel_basic_auth_password: z.string().min(16, "must be at least 16 characters").optional(),
    backchannel_bearer_enabled: bool(true),
    // The longest an Authenticate may take; past it the answer is TEMPFAIL.
    backchannel_timeout: seconds(5),
    // The language of status messages when the caller names none (or, when set, always): en, de or fr.
    backchannel_default_language: z.enum(["en", "de", "fr"]).default("en"),
    backchannel_force_default_language: bool(false),

    // Google sign-in: the OAuth client ids whose ID tokens are accepted (comma-separated; empty = off).
    google_client_ids: z.preprocess((v) => (typeof v === "string" ? listOf(v) : v), z.array(z.string().min(1))).default([]),
    google_issuer: z.string().default("https://accounts.google.com"),
    google_jwks_url: z.string().default("https://www.googleapis.com/oauth2/v3/certs"),
  })
  .superRefine((c, ctx) => {
    if (c.master_key && c.master_key_file) ctx.addIssue({ code: "custom", path: ["master_key_file"], message: "give master_key or master_key_file, not both" });
    if (c.jwt_algorithm === "HS256" && !c.jwt_hs256_secret)
      ctx.addIssue({ code: "custom", path: ["jwt_hs256_secret"], message: "is required when jwt_algorithm is HS256" });
    if (!!c.tls_cert_file !== !!c.tls_key_file)
      ctx.addIssue({ code: "custom", path: ["tls_cert_file"], message: "tls_cert_file and tls_key_file go together" });
    if (c.tls_auto && c.tls_cert_file)
      ctx.addIssue({ code: "custom", path: ["tls_auto"], message: "tls_auto makes the certificate: leave tls_cert_file unset" });
    if (c.require_client_cert && !c.tls_client_ca_file)
      ctx.addIssue({ code: "custom", path: ["tls_client_ca_file"], message: "is required when require_client_cert is on" });
    if ((c.tls_client_ca_file || c.require_client_cert) && !c.tls_cert_file && !c.tls_auto)
      ctx.addIssue({ code: "custom", path: ["tls_cert_file"], message: "client certificates need TLS: set tls_cert_file and tls_key_file" });
    for (const entry of listOf(c.trusted_proxies))
      if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(entry) || isIP(entry.split("/")[0]!) === 0)
        ctx.addIssue({ code: "custom", path: ["trusted_proxies"], message: `"${entry}" is not an address or CIDR` });
    if (!!c.smtp_username !== (c.smtp_password !== undefined))
      ctx.addIssue({ code: "custom", path: ["smtp_password"], message: "smtp_username and smtp_password go together" });
    if (!!c.admin_email !== !!c.admin_password)
      ctx.addIssue({ code: "custom", path: ["admin_password"], message: "admin_email and admin_password go together" });
    for (const origin of c.webauthn_origins.filter((o) => !originOnRpId(o, c.webauthn_rp_id)))
      ctx.addIssue({ code: "custom", path: ["webauthn_origins"], message: `${origin} is not on webauthn_rp_id ${c.webauthn_rp_id} or a subdomain of it` });
    for (const key of ["google_issuer", "google_jwks_url"] as const) {
      const problem = providerUrlProblem(c[key]);
      if (problem) ctx.addIssue({ code: "custom", path: [key], message: problem });
    }
    if (!c.tls_cert_file && !c.tls_auto && !c.tls_terminated_upstream && !isLoopback(hostOf(c.addr)))
      ctx.addIssue({
        code: "custom",
        path: ["addr"],
        message: "cleartext on a non-loopback address is refused: configure TLS or set tls_terminated_upstream",
      });
    if (c.backchannel_enabled) {
      if (!!c.backchannel_tls_cert_file !== !!c.backchannel_tls_key_file)
        ctx.addIssue({ code: "custom", path: ["backchannel_tls_cert_file"], message: "backchannel_tls_cert_file and backchannel_tls_key_file go together" });
      if ((c.backchannel_tls_client_ca_file || c.backchannel_require_client_cert) && !c.backchannel_tls_cert_file)
        ctx.addIssue({ code: "custom", path: ["backchannel_tls_cert_file"], message: "client certificates need TLS on the backchannel" });
      if (c.backchannel_require_client_cert && !c.backchannel_tls_client_ca_file)
        ctx.addIssue({ code: "custom", path: ["backchannel_tls_client_ca_file"], message: "is required when backchannel_require_client_cert is on" });
      if (!c.backchannel_tls_cert_file && !isLoopback(hostOf(c.backchannel_address)))
        ctx.addIssue({
          code: "custom",
          path: ["backchannel_address"],
          message: "the backchannel serves cleartext only on loopback: configure backchannel TLS",
        });
      if (c.backchannel_basic_auth_enabled && !(c.backchannel_basic_auth_username && c.backchannel_basic_auth_password))
        ctx.addIssue({ code: "custom", path: ["backchannel_basic_auth_password"], message: "Basic auth needs backchannel_basic_auth_username and _password" });
      if (!c.backchannel_basic_auth_enabled && !c.backchannel_bearer_enabled)
        ctx.addIssue({ code: "custom", path: ["backchannel_bearer_enabled"], message: "the backchannel needs a way to authenticate callers: Basic or bearer" });
    }
  });

export type Config = z.infer<typeof configSchema>;

/** A comma-separated setting as a list, blanks dropped. */
export function listOf(value: string): string[] {
  return value
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean);
}

export function hostOf(addr: string): string {
  const i = addr.lastIndexOf(":");
  return addr.slice(0, i).replace(/^\[|\]$/g, "");
}

export function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(":") + 1));
}

function isOrigin(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === "https:" || u.protocol === "http:") && u.origin === value;
  } catch {
    return false;
  }
}

function originOnRpId(origin: string, rpId: string): boolean {
  const host = new URL(origin).hostname.toLowerCase();
  const id = rpId.toLowerCase();
  return host === id || host.endsWith(`.${id}`);
}

function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

/** The environment variable for a setting: DATABASE_URL stays as the ecosystem knows it. */
export function envNameOf(key: string): string {
  if (key === "database_url") return "DATABASE_URL";
  if (key === "redis_url") return "REDIS_URL";
  return `WARDEN_${key.toUpperCase()}`;
}

export class ConfigError extends Error {}

/** Settings from WARDEN_CONFIG (YAML), overridden by environment variables. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Record<string, unknown> = {}): Config {
  let fileValues: Record<string, unknown> = {};
  const file = env.WARDEN_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError(`WARDEN_CONFIG: cannot read ${file}: ${(err as Error).message}`);
    }
    if (parsed != null && (typeof parsed !== "object" || Array.isArray(parsed)))
      throw new ConfigError(`WARDEN_CONFIG: ${file} must hold a mapping of settings`);
    fileValues = (parsed ?? {}) as Record<string, unknown>;
    const known = new Set(Object.keys(configSchema.shape));
    for (const key of Object.keys(fileValues)) if (!known.has(key)) throw new ConfigError(`WARDEN_CONFIG: unknown setting "${key}"`);
  }
  const values: Record<string, unknown> = { ...fileValues };
  for (const key of Object.keys(configSchema.shape)) {
    const v = env[envNameOf(key)];
    if (v !== undefined && v !== "") values[key] = v;
  }
  Object.assign(values, overrides);
  const result = configSchema.safeParse(values);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const key = String(i.path[0] ?? "config");
      return `${key} (${envNameOf(key)}): ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  return result.data;
}
