import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseDuration } from "../../src/config.js";

const dir = mkdtempSync(join(tmpdir(), "warden-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** Writes a YAML file and returns the environment pointing WARDEN_CONFIG at it. */
function yamlEnv(text: string): NodeJS.ProcessEnv {
  const file = join(dir, `config-${files++}.yaml`);
  writeFileSync(file, text);
  return { WARDEN_CONFIG: file };
}

/** The message of the ConfigError loadConfig must throw for this environment. */
function refusal(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`configuration was accepted: ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  it("has safe defaults", () => {
    expect(loadConfig({})).toMatchObject({
      addr: "127.0.0.1:8080",
      min_tls_version: "TLS1.2",
      max_message_bytes: 4 * 1024 * 1024,
      jwt_algorithm: "EdDSA",
      access_token_ttl: 15 * 60,
      login_max_failures: 10,
      login_failure_window: 15 * 60,
      tls_terminated_upstream: false,
      dev: false,
    });
  });

  it.each<[string, NodeJS.ProcessEnv, RegExp]>([
    ["a malformed address", { WARDEN_ADDR: "nonsense" }, /addr \(WARDEN_ADDR\): must be host:port/],
    ["TLS 1.1", { WARDEN_MIN_TLS_VERSION: "TLS1.1" }, /min_tls_version \(WARDEN_MIN_TLS_VERSION\)/],
    ["cleartext on 0.0.0.0", { WARDEN_ADDR: "0.0.0.0:8080" }, /addr \(WARDEN_ADDR\): cleartext on a non-loopback address is refused/],
    ["cleartext on [::]", { WARDEN_ADDR: "[::]:8080" }, /WARDEN_ADDR.*cleartext/],
    ["cleartext on a LAN address", { WARDEN_ADDR: "10.1.2.3:8080" }, /WARDEN_ADDR.*cleartext/],
    ["cleartext on a host name", { WARDEN_ADDR: "warden.example:8080" }, /WARDEN_ADDR.*cleartext/],
    ["more than 100 failures before lockout (NIST)", { WARDEN_LOGIN_MAX_FAILURES: "101" }, /WARDEN_LOGIN_MAX_FAILURES/],
    ["no lockout at all", { WARDEN_LOGIN_MAX_FAILURES: "0" }, /WARDEN_LOGIN_MAX_FAILURES/],
    ["a lockout count that is not a number", { WARDEN_LOGIN_MAX_FAILURES: "ten" }, /WARDEN_LOGIN_MAX_FAILURES/],
    ["HS256 without a secret", { WARDEN_JWT_ALGORITHM: "HS256" }, /jwt_hs256_secret \(WARDEN_JWT_HS256_SECRET\): is required/],
    [
      "an HS256 secret under 32 characters",
      { WARDEN_JWT_ALGORITHM: "HS256", WARDEN_JWT_HS256_SECRET: "x".repeat(31) },
      /WARDEN_JWT_HS256_SECRET\): must be at least 32/,
    ],
    ["an unknown JWT algorithm", { WARDEN_JWT_ALGORITHM: "none" }, /WARDEN_JWT_ALGORITHM/],
    ["a short master key", { WARDEN_MASTER_KEY: "short" }, /WARDEN_MASTER_KEY/],
    ["a duration in words", { WARDEN_ACCESS_TOKEN_TTL: "15 minutes" }, /WARDEN_ACCESS_TOKEN_TTL/],
    ["a fractional duration", { WARDEN_SESSION_IDLE_TIMEOUT: "1.5h" }, /WARDEN_SESSION_IDLE_TIMEOUT/],
    ["a zero duration", { WARDEN_ACCESS_TOKEN_TTL: "0" }, /WARDEN_ACCESS_TOKEN_TTL/],
    ["a read limit over 64 MiB", { WARDEN_MAX_MESSAGE_BYTES: String(4 * 1024 ** 3) }, /WARDEN_MAX_MESSAGE_BYTES/],
    ["a database URL that is not PostgreSQL", { DATABASE_URL: "mysql://db/warden" }, /database_url \(DATABASE_URL\)/],
    ["a certificate without a key", { WARDEN_TLS_CERT_FILE: "/tmp/cert.pem" }, /WARDEN_TLS_CERT_FILE/],
    ["required client certificates without a CA", { WARDEN_REQUIRE_CLIENT_CERT: "true" }, /WARDEN_TLS_CLIENT_CA_FILE/],
    ["an admin email without a password", { WARDEN_ADMIN_EMAIL: "root@example.test" }, /WARDEN_ADMIN_PASSWORD/],
    ["an unknown log level", { WARDEN_LOG_LEVEL: "verbose" }, /WARDEN_LOG_LEVEL/],
  ])("refuses %s, naming the setting", (_name, env, message) => {
    expect(refusal(env)).toMatch(message);
  });

  it("lists every problem at once", () => {
    const message = refusal({ WARDEN_ADDR: "nonsense", WARDEN_MIN_TLS_VERSION: "TLS1.0", WARDEN_LOGIN_MAX_FAILURES: "500" });
    for (const name of ["WARDEN_ADDR", "WARDEN_MIN_TLS_VERSION", "WARDEN_LOGIN_MAX_FAILURES"]) expect(message).toContain(name);
  });

  it.each<[string, NodeJS.ProcessEnv]>([
    ["0.0.0.0 behind a TLS-terminating proxy", { WARDEN_ADDR: "0.0.0.0:8080", WARDEN_TLS_TERMINATED_UPSTREAM: "true" }],
    ["0.0.0.0 with TLS", { WARDEN_ADDR: "0.0.0.0:8443", WARDEN_TLS_CERT_FILE: "/c.pem", WARDEN_TLS_KEY_FILE: "/k.pem" }],
    ["localhost", { WARDEN_ADDR: "localhost:8080" }],
    ["another 127/8 address", { WARDEN_ADDR: "127.0.0.2:80" }],
    ["IPv6 loopback", { WARDEN_ADDR: "[::1]:9000" }],
    ["TLS 1.3 only", { WARDEN_MIN_TLS_VERSION: "TLS1.3" }],
    ["100 failures before lockout", { WARDEN_LOGIN_MAX_FAILURES: "100" }],
    ["HS256 with a 32-character secret", { WARDEN_JWT_ALGORITHM: "HS256", WARDEN_JWT_HS256_SECRET: "x".repeat(32) }],
  ])("accepts %s", (_name, env) => {
    expect(() => loadConfig(env)).not.toThrow();
  });

  it.each<[string, number]>([
    ["90", 90],
    ["90s", 90],
    ["15m", 900],
    ["12h", 43200],
    ["30d", 2592000],
    [" 5m ", 300],
  ])("reads the duration %j as %i seconds", (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
    expect(loadConfig({ WARDEN_SESSION_IDLE_TIMEOUT: text }).session_idle_timeout).toBe(seconds);
  });

  it("ignores empty environment variables", () => {
    expect(loadConfig({ WARDEN_ADDR: "", WARDEN_LOGIN_MAX_FAILURES: "" })).toMatchObject({ addr: "127.0.0.1:8080", login_max_failures: 10 });
  });

  it("lets explicit overrides win over the environment", () => {
    expect(loadConfig({ WARDEN_LOGIN_MAX_FAILURES: "20" }, { login_max_failures: 30 }).login_max_failures).toBe(30);
  });
});

describe("loadConfig with a YAML file (WARDEN_CONFIG)", () => {
  it("reads settings, durations included", () => {
    const config = loadConfig(yamlEnv("addr: 127.0.0.1:9090\nlogin_failure_window: 15m\nsession_idle_timeout: 2h\nmin_tls_version: TLS1.3\n"));
    expect(config).toMatchObject({ addr: "127.0.0.1:9090", login_failure_window: 900, session_idle_timeout: 7200, min_tls_version: "TLS1.3" });
  });

  it("lets environment variables override the file", () => {
    const env = { ...yamlEnv("addr: 127.0.0.1:9090\nlogin_max_failures: 5\n"), WARDEN_LOGIN_MAX_FAILURES: "7" };
    expect(loadConfig(env)).toMatchObject({ addr: "127.0.0.1:9090", login_max_failures: 7 });
  });

  it("refuses an unknown key, naming it", () => {
    expect(refusal(yamlEnv("addr: 127.0.0.1:9090\nlogin_max_failure: 5\n"))).toMatch(/WARDEN_CONFIG: unknown setting "login_max_failure"/);
  });

  it("checks file values like any other: TLS1.1 and cleartext on 0.0.0.0 are refused", () => {
    expect(refusal(yamlEnv("min_tls_version: TLS1.1\n"))).toMatch(/min_tls_version/);
    expect(refusal(yamlEnv("addr: 0.0.0.0:8080\n"))).toMatch(/cleartext/);
    expect(loadConfig(yamlEnv("addr: 0.0.0.0:8080\ntls_terminated_upstream: true\n")).addr).toBe("0.0.0.0:8080");
  });

  it.each([
    ["a list", "- addr\n- dev\n"],
    ["a scalar", "just a string\n"],
    ["broken YAML", "addr: [unclosed\n"],
  ])("refuses a file holding %s", (_name, text) => {
    expect(refusal(yamlEnv(text))).toMatch(/WARDEN_CONFIG/);
  });

  it("refuses a file that does not exist", () => {
    expect(refusal({ WARDEN_CONFIG: join(dir, "missing.yaml") })).toMatch(/WARDEN_CONFIG: cannot read/);
  });

  it("accepts an empty file", () => {
    expect(loadConfig(yamlEnv("")).addr).toBe("127.0.0.1:8080");
  });
});
