import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

/** "90", "90s", "15m", "12h", "30d" -> seconds. */
export function parseDuration(value: unknown): unknown {
  if (typeof value === "number") return value;
  if (typeof value !== "string") return value;
  const match = /^(\d+)\s*(s|m|h|d)?$/.exec(value.trim());
  if (!match) return value;
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[match[2] ?? "s"]!;
  return Number(match[1]) * unit;
}

const seconds = (def: number) => z.preprocess(parseDuration, z.number().int().positive()).default(def);
const bool = (def: boolean) =>
  z.preprocess((v) => (typeof v === "string" ? ["1", "true", "yes", "on"].includes(v.toLowerCase()) : v), z.boolean()).default(def);
const int = (def: number, min: number, max: number) =>
  z.preprocess((v) => (typeof v === "string" && v.trim() !== "" ? Number(v) : v), z.number().int().min(min).max(max)).default(def);

export const configSchema = z
  .object({
    addr: z.string().regex(/^(\[[^\]]+\]|[^:]+):\d{1,5}$/, "must be host:port").default("127.0.0.1:8080"),
    data_dir: z.string().min(1).default("./data"),
    database_url: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL").optional(),
    log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    dev: bool(false),

    tls_cert_file: z.string().optional(),
    tls_key_file: z.string().optional(),
    min_tls_version: z.enum(["TLS1.2", "TLS1.3"]).default("TLS1.2"),
    tls_client_ca_file: z.string().optional(),
    require_client_cert: bool(false),
    // Allows a cleartext listener on a non-loopback address because a proxy in front terminates TLS.
    tls_terminated_upstream: bool(false),

    max_message_bytes: int(4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    shutdown_grace: seconds(10),

    master_key: z.string().min(32, "must be at least 32 characters").optional(),
    jwt_algorithm: z.enum(["EdDSA", "ES256", "HS256"]).default("EdDSA"),
    jwt_hs256_secret: z.string().min(32, "must be at least 32 characters").optional(),
    token_issuer: z.string().default("warden"),
    token_audience: z.string().default("warden"),
    access_token_ttl: seconds(15 * 60),
    signing_key_rotation: seconds(30 * 86400),

    session_idle_timeout: seconds(12 * 3600),
    session_absolute_timeout: seconds(7 * 86400),
    session_cache_ttl: seconds(5),

    admin_email: z.string().email().optional(),
    admin_password: z.string().optional(),

    login_max_failures: int(10, 1, 100),
    login_failure_window: seconds(15 * 60),
    password_min_score: int(3, 0, 4),
    // Failed API-key and service-account-secret attempts per client address per login_failure_window.
    network_max_failures: int(100, 1, 100_000),
    max_organizations_per_user: int(10, 1, 10_000),
  })
  .superRefine((c, ctx) => {
    if (c.jwt_algorithm === "HS256" && !c.jwt_hs256_secret)
      ctx.addIssue({ code: "custom", path: ["jwt_hs256_secret"], message: "is required when jwt_algorithm is HS256" });
    if (!!c.tls_cert_file !== !!c.tls_key_file)
      ctx.addIssue({ code: "custom", path: ["tls_cert_file"], message: "tls_cert_file and tls_key_file go together" });
    if (c.require_client_cert && !c.tls_client_ca_file)
      ctx.addIssue({ code: "custom", path: ["tls_client_ca_file"], message: "is required when require_client_cert is on" });
    if ((c.tls_client_ca_file || c.require_client_cert) && !c.tls_cert_file)
      ctx.addIssue({ code: "custom", path: ["tls_cert_file"], message: "client certificates need TLS: set tls_cert_file and tls_key_file" });
    if (!!c.admin_email !== !!c.admin_password)
      ctx.addIssue({ code: "custom", path: ["admin_password"], message: "admin_email and admin_password go together" });
    if (!c.tls_cert_file && !c.tls_terminated_upstream && !isLoopback(hostOf(c.addr)))
      ctx.addIssue({
        code: "custom",
        path: ["addr"],
        message: "cleartext on a non-loopback address is refused: configure TLS or set tls_terminated_upstream",
      });
  });

export type Config = z.infer<typeof configSchema>;

export function hostOf(addr: string): string {
  const i = addr.lastIndexOf(":");
  return addr.slice(0, i).replace(/^\[|\]$/g, "");
}

export function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(":") + 1));
}

function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

/** The environment variable for a setting: DATABASE_URL stays as the ecosystem knows it. */
export function envNameOf(key: string): string {
  return key === "database_url" ? "DATABASE_URL" : `WARDEN_${key.toUpperCase()}`;
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
    for (const key of Object.keys(fileValues))
      if (!known.has(key)) throw new ConfigError(`WARDEN_CONFIG: unknown setting "${key}"`);
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
