import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { hash, verify } from "@node-rs/argon2";
import { AuthDecision, AuthService as MailAuthService } from "../gen/nauthilus/auth/v1/auth_pb.js";
import { ApiKeyScope, ApiKeyService } from "../gen/warden/apikey/v1/api_key_service_pb.js";
import { AuthService } from "../gen/warden/auth/v1/auth_service_pb.js";
import { OrganizationService } from "../gen/warden/org/v1/organization_service_pb.js";
import { RoleService } from "../gen/warden/rbac/v1/role_service_pb.js";
import { matchingStep, newTotpSecret, stepAt, totpCode } from "../src/domain/mfa/totp.js";
import { TelemetryService } from "../gen/warden/telemetry/v1/telemetry_service_pb.js";
import { HealthService, ServingStatus } from "../gen/warden/health/v1/health_service_pb.js";
import { SessionService } from "../gen/warden/session/v1/session_service_pb.js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ARGON2_PARAMS } from "../src/crypto/password-hasher.js";
import { statusMessage, type StatusKind } from "../src/domain/backchannel/status-messages.js";
import { describeFailure, type H2Pool } from "./h2-client.js";
import type { Operation } from "./load.js";
import { LOGIN_MAX_FAILURES } from "./server.js";

/** What every scenario may use: the connections to the server and the fixtures made at start. */
export interface BenchContext {
  pool: H2Pool;
  concurrency: number;
  /** Registered accounts with known passwords (more than one only at very high concurrency). */
  loginAccounts: { email: string; password: string }[];
  /** An access token (JWT) of loginAccounts[0], from one Login at set-up. */
  accessToken: string;
  /** The organization loginAccounts[0] owns (created at set-up). */
  organizationId: string;
  /** A read-scope API key of loginAccounts[0] in an organization it owns. */
  apiKey: string;
  /** An account whose failure budget is spent: every Login for it is refused. */
  lockedAccount: { email: string; password: string };
  /** The mail-server backchannel listener and its Basic caller's header; undefined if the server has none. */
  backchannel?: { pool: H2Pool; authorization: string };
}

/**
 * One row of the table. `prepare` runs once, outside the timed window (register users, mint
 * tokens, encode request bodies, check one response), and returns the call the load runs.
 * To add a scenario (ValidateApiKey, TOTP, ...), append an object to SCENARIOS.
 */
export interface Scenario {
  name: string;
  /** One line for the README: what the number means. */
  measures: string;
  /** "server" calls go over the network to the child server; "local" runs in this process. */
  where: "server" | "local";
  prepare(ctx: BenchContext): Promise<Operation>;
  /**
   * Optional check after each measured window, outside the timing (e.g. that the calls had their
   * effect): a throw counts as an error of the row, so its ratio fails. What it returns is printed
   * on the scenario's progress line.
   */
  verify?(ctx: BenchContext): Promise<string | void>;
}

/** A scenario's rate in units of work (e.g. events) with an absolute target, printed under the table. */
export interface Throughput {
  scenario: string;
  /** What one successful call carries: `perCall` of `unit`. */
  unit: string;
  perCall: number;
  target: number;
  why: string;
}

/** A throughput ratio with a target, printed under the table. */
export interface Ratio {
  numerator: string;
  denominator: string;
  target: number;
  why: string;
}

/** `/<package.Service>/<Method>` for a method of a generated service descriptor. */
export function pathOf(method: { parent: { typeName: string }; name: string }): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** Calls `method` once with a full decode, for set-up and for sanity checks of a scenario. */
export async function callOnce<I extends DescMessage, O extends DescMessage>(
  pool: H2Pool,
  method: DescMethodUnary<I, O>,
  input: MessageInitShape<I>,
  headers?: Record<string, string>,
): Promise<MessageShape<O>> {
  const r = await pool.unary(pathOf(method), toBinary(method.input, create(method.input, input)), headers);
  if (r.status !== 200) throw new Error(`${method.name}: ${describeFailure(r)}`);
  return fromBinary(method.output, r.body);
}

/**
 * The timed call: the body is encoded once, the response is not decoded (HTTP 200 is a
 * success in the Connect protocol, anything else carries an error), so the client costs
 * as little as it can.
 */
export function unaryOp<I extends DescMessage>(
  pool: H2Pool,
  method: DescMethodUnary<I, DescMessage>,
  input: MessageInitShape<I>,
  headers?: Record<string, string>,
): Operation {
  const path = pathOf(method);
  const body = toBinary(method.input, create(method.input, input));
  return async () => {
    const r = await pool.unary(path, body, headers);
    if (r.status !== 200) throw new Error(describeFailure(r));
  };
}

export const SCENARIOS: Scenario[] = [
  {
    name: "HealthCheck",
    measures:
      "warden.health.v1.HealthService/HealthCheck: public, no credential, readiness cached for 1 s; the ceiling of the HTTP/2 + Connect + interceptor stack.",
    where: "server",
    async prepare({ pool }) {
      const r = await callOnce(pool, HealthService.method.healthCheck, {});
      if (r.status !== ServingStatus.SERVING) throw new Error("HealthCheck: server is not SERVING");
      return unaryOp(pool, HealthService.method.healthCheck, {});
    },
  },
  {
    name: "ValidateSession",
    measures:
      "warden.session.v1.SessionService/ValidateSession with `authorization: Bearer <access JWT>`: EdDSA verification, session lookup (cached per instance for session_cache_ttl), policy check.",
    where: "server",
    async prepare({ pool, accessToken }) {
      const headers = { authorization: `Bearer ${accessToken}` };
      const r = await callOnce(pool, SessionService.method.validateSession, {}, headers);
      if (!r.valid) throw new Error("ValidateSession: the bench access token is not valid");
      return unaryOp(pool, SessionService.method.validateSession, {}, headers);
    },
  },
  {
    name: "Authenticate accepted",
    measures:
      "nauthilus.auth.v1.AuthService/Authenticate on the backchannel listener (Basic caller) with a good password: caller check, failure-budget points, user lookup, one argon2id verify, organizations read, audit event; decision OK.",
    where: "server",
    async prepare({ loginAccounts, backchannel }) {
      const { pool, authorization } = needBackchannel(backchannel);
      // The same accounts as Login (several above 90 in flight, for the per-account budget), each
      // from a few client addresses, as a mail server passes them on.
      const inputs = loginAccounts.flatMap((a) =>
        MAIL_CLIENT_IPS.map((clientIp) => ({ username: a.email, password: a.password, clientIp, protocol: "imap", userAgent: "bench-mail-server" })),
      );
      for (const input of inputs) {
        const r = await callOnce(pool, MailAuthService.method.authenticate, input, { authorization });
        if (r.decision !== AuthDecision.OK)
          throw new Error(`Authenticate: the bench account was not accepted (${AuthDecision[r.decision]}: ${r.statusMessage} ${r.error})`);
      }
      const ops = inputs.map((input) => mailOp(pool, authorization, input, AuthDecision.OK, "ok"));
      let i = 0;
      return () => ops[i++ % ops.length]!();
    },
  },
  {
    name: "Login",
    measures:
      "warden.auth.v1.AuthService/Login with valid credentials: failure-limiter point, user lookup, one argon2id verify, session + refresh token + audit event in one statement, JWT signing.",
    where: "server",
    async prepare({ pool, loginAccounts }) {
      // The call must end in tokens (not, say, an MFA challenge), or the row measures something else.
      const r = await callOnce(pool, AuthService.method.login, loginAccounts[0]!);
      if (!r.accessToken) throw new Error("Login: the bench account did not get an access token");
      const ops = loginAccounts.map((a) => unaryOp(pool, AuthService.method.login, a));
      let i = 0;
      return ops.length === 1 ? ops[0]! : () => ops[i++ % ops.length]!();
    },
  },
  {
    name: "argon2id verify (raw)",
    measures:
      "@node-rs/argon2 verify with ARGON2_PARAMS from src/crypto/password-hasher.ts, in the bench process (server idle), same concurrency, on libuv's thread pool: what this machine can hash.",
    where: "local",
    async prepare() {
      const password = "Bench-correct-horse-7319-staple!";
      const stored = await hash(password, ARGON2_PARAMS);
      if (!(await verify(stored, password))) throw new Error("argon2 verify: self-check failed");
      return async () => {
        if (!(await verify(stored, password))) throw new Error("argon2 verify returned false");
      };
    },
  },
  {
    name: "ValidateApiKey",
    measures:
      "warden.apikey.v1.ApiKeyService/ValidateApiKey with a valid key in the request: SHA-256 of the key, lookup (cached per instance, dropped on any change), owner and organization checks, network budget point taken and given back.",
    where: "server",
    async prepare({ pool, apiKey }) {
      const r = await callOnce(pool, ApiKeyService.method.validateApiKey, { key: apiKey });
      if (!r.valid) throw new Error("ValidateApiKey: the bench key is not valid");
      return unaryOp(pool, ApiKeyService.method.validateApiKey, { key: apiKey });
    },
  },
  {
    name: "API-key call (GetRole)",
    measures:
      "warden.rbac.v1.RoleService/GetRole with `authorization: Bearer wdn_k_...`: key authentication, scope check against the policy, one role read from the database.",
    where: "server",
    async prepare({ pool, apiKey }) {
      const headers = { authorization: `Bearer ${apiKey}` };
      await callOnce(pool, RoleService.method.getRole, { name: "admin" }, headers);
      return unaryOp(pool, RoleService.method.getRole, { name: "admin" }, headers);
    },
  },
  {
    name: "Login refused (locked)",
    measures: "warden.auth.v1.AuthService/Login for an account whose failure budget is spent: RESOURCE_EXHAUSTED before any hashing or database write.",
    where: "server",
    async prepare({ pool, lockedAccount }) {
      const path = pathOf(AuthService.method.login);
      const body = toBinary(AuthService.method.login.input, create(AuthService.method.login.input, lockedAccount));
      const expectRefused = async () => {
        const r = await pool.unary(path, body);
        // Connect maps resource_exhausted to HTTP 429.
        if (r.status !== 429) throw new Error(`expected a refusal, got ${describeFailure(r)}`);
      };
      await expectRefused();
      return expectRefused;
    },
  },
  {
    name: "Authenticate refused (over limit)",
    measures:
      "Authenticate for an account + client_ip whose failure budget was spent at set-up with login_max_failures different wrong passwords, sent with the right password: decision FAIL, too-many-attempts status, before any hashing or database read.",
    where: "server",
    async prepare({ pool: mainPool, backchannel }) {
      const { pool, authorization } = needBackchannel(backchannel);
      const account = { email: "bench-mail-locked@bench.example.com", password: "Bench-correct-horse-7319-mail-locked!" };
      await callOnce(mainPool, AuthService.method.register, { ...account, displayName: "Mail Locked" });
      const base = { username: account.email, clientIp: "198.51.100.7", protocol: "imap", userAgent: "bench-mail-server" };
      // Different passwords: the same wrong one again is remembered and counts once.
      for (let i = 0; i < LOGIN_MAX_FAILURES; i += 10)
        await Promise.all(
          Array.from({ length: Math.min(10, LOGIN_MAX_FAILURES - i) }, async (_, j) => {
            const r = await callOnce(pool, MailAuthService.method.authenticate, { ...base, password: `Wrong-horse-battery-${i + j}` }, { authorization });
            if (r.decision !== AuthDecision.FAIL) throw new Error(`Authenticate: a wrong password got ${AuthDecision[r.decision]}`);
          }),
        );
      const input = { ...base, password: account.password };
      const r = await callOnce(pool, MailAuthService.method.authenticate, input, { authorization });
      const expected = statusMessage("too_many_attempts", "en", "en");
      if (r.decision !== AuthDecision.FAIL || r.statusMessage !== expected)
        throw new Error(`Authenticate: after ${LOGIN_MAX_FAILURES} failures expected FAIL "${expected}", got ${AuthDecision[r.decision]} "${r.statusMessage}"`);
      return mailOp(pool, authorization, input, AuthDecision.FAIL, "too_many_attempts");
    },
  },
  {
    name: "TOTP verify (raw)",
    measures:
      "matchingStep from src/domain/mfa/totp.ts with a current code: three HMAC-SHA1 codes (one step of drift either way) and constant-time compares, in the bench process.",
    where: "local",
    async prepare() {
      const secret = newTotpSecret();
      return async () => {
        const now = new Date();
        if (matchingStep(secret, totpCode(secret, stepAt(now)), now) === undefined) throw new Error("TOTP: current code refused");
      };
    },
  },
  {
    name: "BatchEmitTelemetry",
    measures:
      "warden.telemetry.v1.TelemetryService/BatchEmitTelemetry with 1,000 events (type, time, three attributes) and `authorization: Bearer <access JWT>`: decoding and protovalidate of 1,000 events, org membership, the per-org event budget (1,000 points), the session read for its bound device, one multi-row insert into the day's partition. Rate in events/s = calls/s x 1,000.",
    where: "server",
    async prepare({ pool, accessToken, organizationId }) {
      const headers = { authorization: `Bearer ${accessToken}` };
      // Times spread over the last minute: encoded once, they stay well inside the accepted window.
      const base = Date.now();
      const events = Array.from({ length: TELEMETRY_BATCH }, (_, i) => ({
        type: i % 10 === 0 ? "url.blocked" : "app.launch",
        time: timestampFromDate(new Date(base - (i % 60) * 1000)),
        attributes: { app: "editor", pid: 4000 + i, host: "laptop-17.bench.example.com" },
      }));
      const r = await callOnce(pool, TelemetryService.method.batchEmitTelemetry, { organizationId, events }, headers);
      if (r.accepted !== TELEMETRY_BATCH) throw new Error(`BatchEmitTelemetry: accepted ${r.accepted} of ${TELEMETRY_BATCH}`);
      return unaryOp(pool, TelemetryService.method.batchEmitTelemetry, { organizationId, events }, headers);
    },
  },
];

export const RATIOS: Ratio[] = [
  {
    numerator: "ValidateSession",
    denominator: "HealthCheck",
    target: 0.7,
    why: "validating a token should cost little more than the RPC stack itself",
  },
  {
    numerator: "Login",
    denominator: "argon2id verify (raw)",
    target: 0.8,
    why: "a login should be bound by its one password hash, not by what surrounds it",
  },
  {
    numerator: "ValidateApiKey",
    denominator: "HealthCheck",
    target: 0.6,
    why: "checking an API key should cost little more than the RPC stack itself",
  },
  {
    numerator: "API-key call (GetRole)",
    denominator: "HealthCheck",
    target: 0.6,
    why: "an API-key-authenticated call should cost little more than the RPC stack itself",
  },
  {
    numerator: "Login refused (locked)",
    denominator: "Login",
    target: 20,
    why: "a refused login must cost under 5% of an accepted one (20 times the rate)",
  },
  {
    numerator: "Authenticate accepted",
    denominator: "Login",
    target: 0.9,
    why: "a mail server's password check should cost about what a login costs",
  },
  {
    numerator: "Authenticate refused (over limit)",
    denominator: "Authenticate accepted",
    target: 20,
    why: "a refusal over the budget must cost under 5% of an accepted Authenticate (20 times the rate): no hashing",
  },
];

/** Events per BatchEmitTelemetry call (the most a call may carry). */
const TELEMETRY_BATCH = 1000;

export const THROUGHPUTS: Throughput[] = [
  {
    scenario: "BatchEmitTelemetry",
    unit: "events",
    perCall: TELEMETRY_BATCH,
    target: 20_000,
    why: "telemetry ingestion: checked, tagged and stored events per second on PostgreSQL",
  },
];

/** Client addresses a mail server passes for one account (TEST-NET-1). */
const MAIL_CLIENT_IPS = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"];

function needBackchannel(b: BenchContext["backchannel"]): NonNullable<BenchContext["backchannel"]> {
  if (!b) throw new Error('the server logged no backchannel address in its "warden listening" line (a checkout without the backchannel?)');
  return b;
}

/**
 * A timed Authenticate whose answer must carry `decision` and the English status text of
 * `status`: a user's outcome is in the body (HTTP 200 either way), so the body is read, but only
 * for fields 2 (decision) and 8 (status_message), without decoding the rest.
 */
function mailOp(
  pool: H2Pool,
  authorization: string,
  input: MessageInitShape<typeof MailAuthService.method.authenticate.input>,
  decision: AuthDecision,
  status: StatusKind,
): Operation {
  const path = pathOf(MailAuthService.method.authenticate);
  const body = toBinary(MailAuthService.method.authenticate.input, create(MailAuthService.method.authenticate.input, input));
  const headers = { authorization };
  const expectedStatus = Buffer.from(statusMessage(status, "en", "en"));
  return async () => {
    const r = await pool.unary(path, body, headers);
    if (r.status !== 200) throw new Error(describeFailure(r));
    const got = decisionOf(r.body);
    if (got.decision !== decision || !expectedStatus.equals(got.status))
      throw new Error(
        `expected ${AuthDecision[decision]} "${expectedStatus.toString()}", got ${AuthDecision[got.decision]} "${Buffer.from(got.status).toString()}"`,
      );
  };
}

/** Fields 2 and 8 of an AuthResponse, skipping the others. */
function decisionOf(buf: Uint8Array): { decision: AuthDecision; status: Uint8Array } {
  const reader = new BinaryReader(buf);
  let decision = AuthDecision.UNSPECIFIED;
  let status: Uint8Array = new Uint8Array(0);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 2 && wireType === WireType.Varint) decision = reader.int32();
    else if (field === 8 && wireType === WireType.LengthDelimited) status = reader.bytes();
    else reader.skip(wireType, field);
  }
  return { decision, status };
}

/** Registers the login accounts and mints the access token the scenarios use. */
export async function createFixtures(pool: H2Pool, concurrency: number, backchannel?: BenchContext["backchannel"]): Promise<BenchContext> {
  // The account failure limiter takes a point before verifying and clears on success, so one
  // account sees at most `concurrency` points at once; the server runs with a limit of 100.
  const accountCount = Math.max(1, Math.ceil(concurrency / 90));
  const loginAccounts = Array.from({ length: accountCount }, (_, i) => ({
    email: `bench-user-${i}@bench.example.com`,
    password: `Bench-correct-horse-7319-staple-${i}!`,
  }));
  for (const a of loginAccounts) await callOnce(pool, AuthService.method.register, { ...a, displayName: "Bench User" });
  const login = await callOnce(pool, AuthService.method.login, loginAccounts[0]!);
  const auth = { authorization: `Bearer ${login.accessToken}` };
  const { organization } = await callOnce(pool, OrganizationService.method.createOrganization, { name: "Bench" }, auth);
  const key = await callOnce(pool, ApiKeyService.method.createApiKey, { organizationId: organization!.id, name: "bench", scopes: [ApiKeyScope.READ] }, auth);
  const lockedAccount = await lockAnAccount(pool);
  return { pool, concurrency, loginAccounts, accessToken: login.accessToken, organizationId: organization!.id, apiKey: key.secret, lockedAccount, backchannel };
}

/** Spends an account's failure budget (the bench server allows LOGIN_MAX_FAILURES) with wrong passwords. */
async function lockAnAccount(pool: H2Pool): Promise<{ email: string; password: string }> {
  const locked = { email: "bench-locked@bench.example.com", password: "Bench-correct-horse-7319-locked!" };
  await callOnce(pool, AuthService.method.register, { ...locked, displayName: "Locked" });
  const wrong = toBinary(AuthService.method.login.input, create(AuthService.method.login.input, { email: locked.email, password: "Wrong-horse-battery-0000" }));
  for (let round = 0; round < 11; round++) await Promise.all(Array.from({ length: 10 }, () => pool.unary(pathOf(AuthService.method.login), wrong)));
  return locked;
}
