import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PolicyInputSchema, type PolicyInput } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { ManualClock } from "../../src/clock.js";
import { Caches } from "../../src/domain/cache/caches.js";
import { InvalidationBus } from "../../src/domain/invalidation.js";
import { CelCompiler } from "../../src/domain/policy/cel-compiler.js";
import { decide, type Evaluated, type PolicyHead, type Verdict } from "../../src/domain/policy/decide.js";
import { OpaClient, type OpaDecider } from "../../src/domain/policy/opa-client.js";
import type { PolicyOutcomeKind } from "../../src/domain/policy/policy-decision.js";
import { PolicyEngine } from "../../src/domain/policy/policy-engine.js";
import { buildPolicyInput, opaRequestBody, policyInputFromJson } from "../../src/domain/policy/policy-input.js";
import { authMethodsOf } from "../../src/domain/policy/policy-input.js";
import type { AccessPolicyRow, DeviceRow } from "../../src/domain/records.js";
import { startOpaServer, type OpaServer } from "../helpers/opa-server.js";

// ---------------------------------------------------------------- the decision function

let serial = 0;
function head(outcome: PolicyOutcomeKind, priority = 0, extra: Partial<PolicyHead> = {}): PolicyHead {
  const n = ++serial;
  return { id: `p${n}`, name: extra.name ?? `${outcome}-${n}`, outcome, message: "", priority, enabled: true, ...extra };
}
const T: Verdict = { kind: "true" };
const F: Verdict = { kind: "false" };
const ev = (policy: PolicyHead, verdict: Verdict): Evaluated => ({ policy, verdict });
const summary = (d: ReturnType<typeof decide>) => `${d.outcome}:${d.policyName || "-"}:${d.reason}`;

describe("decide", () => {
  it("falls back to the organization's default when nothing matched", () => {
    expect(summary(decide([], "allow"))).toBe("allow:-:default");
    expect(summary(decide([ev(head("deny"), F), ev(head("allow"), F)], "deny"))).toBe("deny:-:default");
    const d = decide([], "require_mfa");
    expect([d.outcome, d.policyId, d.message.length > 0]).toEqual(["require_mfa", "", true]);
  });

  it("lets any true DENY beat any ALLOW, whatever the priorities", () => {
    const allow = head("allow", 1000, { name: "vip" });
    const deny = head("deny", -5, { name: "blocked-country" });
    expect(summary(decide([ev(allow, T), ev(deny, T)], "allow"))).toBe("deny:blocked-country:matched");
    expect(summary(decide([ev(allow, T), ev(deny, F)], "deny"))).toBe("allow:vip:matched");
  });

  it("picks the highest-priority DENY, then by name", () => {
    const low = head("deny", 1, { name: "a-low" });
    const high = head("deny", 9, { name: "z-high" });
    expect(summary(decide([ev(low, T), ev(high, T)], "allow"))).toBe("deny:z-high:matched");
    const [b, a] = [head("deny", 3, { name: "b" }), head("deny", 3, { name: "a" })];
    expect(summary(decide([ev(b, T), ev(a, T)], "allow"))).toBe("deny:a:matched");
  });

  it("among ALLOW and REQUIRE_MFA: the highest priority, then require_mfa over allow, then name", () => {
    const allow10 = head("allow", 10, { name: "allow10" });
    const mfa5 = head("require_mfa", 5, { name: "mfa5" });
    expect(summary(decide([ev(allow10, T), ev(mfa5, T)], "deny"))).toBe("allow:allow10:matched");
    const allow5 = head("allow", 5, { name: "a-allow5" });
    expect(summary(decide([ev(allow5, T), ev(mfa5, T)], "deny"))).toBe("require_mfa:mfa5:matched");
    const [y, x] = [head("allow", 5, { name: "y" }), head("allow", 5, { name: "x" })];
    expect(summary(decide([ev(y, T), ev(x, T)], "deny"))).toBe("allow:x:matched");
  });

  it("ignores disabled policies", () => {
    const off = head("deny", 100, { enabled: false, name: "off" });
    expect(summary(decide([ev(off, T)], "allow"))).toBe("allow:-:default");
    expect(summary(decide([ev(head("deny", 100, { enabled: false }), T), ev(head("allow", 0, { name: "on" }), T)], "deny"))).toBe("allow:on:matched");
  });

  it("fails closed: a runtime error or an unavailable OPA denies by that policy, whatever its outcome", () => {
    const broken = head("allow", 1, { name: "broken" });
    const vip = head("allow", 100, { name: "vip" });
    const d = decide([ev(vip, T), ev(broken, { kind: "error", error: "no such key: x" })], "allow");
    expect([d.outcome, d.policyName, d.reason]).toEqual(["deny", "broken", "runtime_error: no such key: x"]);
    const rego = head("require_mfa", 3, { name: "rego" });
    expect(summary(decide([ev(rego, { kind: "opa_unavailable" })], "allow"))).toBe("deny:rego:opa_unavailable");
    // The higher of a true DENY and a failure decides.
    const deny = head("deny", 50, { name: "deny50" });
    expect(summary(decide([ev(deny, T), ev(broken, { kind: "error", error: "x" })], "allow"))).toBe("deny:deny50:matched");
  });

  it("gives the policy's message, or a default one", () => {
    expect(decide([ev(head("deny", 0, { message: "Use the VPN." }), T)], "allow").message).toBe("Use the VPN.");
    expect(decide([ev(head("deny", 0), T)], "allow").message).not.toBe("");
    expect(decide([ev(head("require_mfa", 0), T)], "allow").message).toMatch(/second factor/);
  });
});

// ---------------------------------------------------------------- the engine: cache, invalidation, budget, OPA

function row(
  organizationId: string,
  p: { name: string; source: string; outcome?: PolicyOutcomeKind; priority?: number; language?: "cel" | "rego"; enabled?: boolean },
): AccessPolicyRow {
  const now = new Date();
  return {
    id: randomUUID(),
    organizationId,
    name: p.name,
    language: p.language ?? "cel",
    source: p.source,
    outcome: p.outcome ?? "deny",
    message: "",
    priority: p.priority ?? 0,
    enabled: p.enabled ?? true,
    createdAt: now,
    updatedAt: now,
  };
}

class FakePolicies {
  rows = new Map<string, AccessPolicyRow[]>();
  loads = 0;
  async listEnabled(organizationId: string): Promise<AccessPolicyRow[]> {
    this.loads++;
    return (this.rows.get(organizationId) ?? []).filter((r) => r.enabled);
  }
}

class FakeOpa implements OpaDecider {
  calls: { path: string; budgetMs: number }[] = [];
  constructor(private readonly answers: Record<string, boolean | undefined> = {}) {}
  async decide(path: string, _body: string, budgetMs: number) {
    this.calls.push({ path, budgetMs });
    return this.answers[path];
  }
}

function engineWith(opts: { opa?: OpaDecider; evalTimeoutMs?: number; timer?: () => number; costLimit?: number } = {}) {
  const clock = new ManualClock();
  const bus = new InvalidationBus({ listen: async () => {}, notify: async () => {} }, { warn: () => {} });
  const policies = new FakePolicies();
  const engine = new PolicyEngine({
    store: { policies },
    caches: new Caches(clock, { maxEntries: 100, ttlSeconds: 3600 }),
    bus,
    compiler: new CelCompiler({ costLimit: opts.costLimit ?? 100_000 }),
    opa: opts.opa ?? new FakeOpa(),
    evalTimeoutMs: opts.evalTimeoutMs ?? 1000,
    timer: opts.timer,
  });
  return { engine, policies, bus };
}

const anInput = (): PolicyInput =>
  create(PolicyInputSchema, { user: { id: "u1", orgRole: "member" }, request: { ip: "10.0.0.1", time: timestampFromDate(new Date("2024-07-01T10:00:00Z")) } });

describe("PolicyEngine", () => {
  const org = randomUUID();

  it("compiles an organization's policies once and recompiles after an invalidation", async () => {
    const { engine, policies, bus } = engineWith();
    policies.rows.set(org, [row(org, { name: "members-out", source: "user.org_role == 'member'" })]);
    expect((await engine.evaluate(org, anInput(), "allow")).outcome).toBe("deny");
    await engine.evaluate(org, anInput(), "allow");
    expect(policies.loads).toBe(1);
    policies.rows.set(org, [row(org, { name: "members-out", source: "user.org_role == 'viewer'" })]);
    // Not yet told: still the cached program.
    expect((await engine.evaluate(org, anInput(), "allow")).outcome).toBe("deny");
    await bus.publish([{ topic: "policy", id: randomUUID() }]);
    expect((await engine.evaluate(org, anInput(), "allow")).outcome).toBe("deny");
    await bus.publish([{ topic: "policy", id: org }]);
    expect((await engine.evaluate(org, anInput(), "allow")).outcome).toBe("allow");
    expect(policies.loads).toBe(2);
  });

  it("does not cache a load that an invalidation overtook", async () => {
    const { engine, policies, bus } = engineWith();
    policies.rows.set(org, [row(org, { name: "old", source: "true" })]);
    const slowLoad = policies.listEnabled.bind(policies);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    policies.listEnabled = async (id: string) => {
      const rows = await slowLoad(id);
      await gate;
      return rows;
    };
    const first = engine.evaluate(org, anInput(), "allow");
    await bus.publish([{ topic: "policy", id: org }]);
    release();
    expect((await first).policyName).toBe("old");
    policies.rows.set(org, [row(org, { name: "new", source: "true" })]);
    policies.listEnabled = slowLoad;
    expect((await engine.evaluate(org, anInput(), "allow")).policyName).toBe("new");
  });

  it("stops at the first policy that denies, and runs a failing one as a deny", async () => {
    const { engine, policies } = engineWith();
    policies.rows.set(org, [
      row(org, { name: "top-allow", source: "true", outcome: "allow", priority: 10 }),
      row(org, { name: "broken", source: "{'a': true}[user.id]", outcome: "allow", priority: 5 }),
      row(org, { name: "never-run", source: "1 / 0 == 1", outcome: "allow", priority: 1 }),
    ]);
    const d = await engine.evaluate(org, anInput(), "allow");
    expect([d.outcome, d.policyName, d.reason]).toEqual(["deny", "broken", "runtime_error: field not found: u1"]);
  });

  it("keeps a stored policy that no longer compiles, and denies by it", async () => {
    const { engine, policies } = engineWith({ costLimit: 100 });
    policies.rows.set(org, [row(org, { name: "costly", source: "user.roles.exists(r, r.contains('x'))", outcome: "allow" })]);
    const d = await engine.evaluate(org, anInput(), "allow");
    expect([d.outcome, d.policyName]).toEqual(["deny", "costly"]);
    expect(d.reason).toMatch(/^runtime_error: does not compile: line 1, column \d+: estimated cost/);
  });

  it("bounds the whole evaluation by wall time: past the budget the next policy denies", async () => {
    let now = 0;
    // Each reading of the timer moves it 30 ms: the third policy starts past the 50 ms budget.
    const { engine, policies } = engineWith({ evalTimeoutMs: 50, timer: () => (now += 30) });
    policies.rows.set(org, [
      row(org, { name: "p1", source: "false", priority: 3 }),
      row(org, { name: "p2", source: "false", priority: 2 }),
      row(org, { name: "p3", source: "false", priority: 1 }),
    ]);
    const d = await engine.evaluate(org, anInput(), "allow");
    expect([d.outcome, d.policyName, d.reason]).toEqual(["deny", "p2", "runtime_error: evaluation time limit exceeded (policy_eval_timeout_ms)"]);
  });

  it("asks OPA for Rego policies above the first denial only, with what is left of the budget", async () => {
    const opa = new FakeOpa({ "warden/allow": true, "warden/deny": false, "warden/low": true });
    const { engine, policies } = engineWith({ opa, evalTimeoutMs: 400 });
    policies.rows.set(org, [
      row(org, { name: "rego-allow", language: "rego", source: "warden/allow", outcome: "allow", priority: 30 }),
      row(org, { name: "rego-deny", language: "rego", source: "warden/deny", outcome: "deny", priority: 20 }),
      row(org, { name: "cel-deny", source: "user.org_role == 'member'", outcome: "deny", priority: 10 }),
      row(org, { name: "rego-low", language: "rego", source: "warden/low", outcome: "deny", priority: 1 }),
    ]);
    const d = await engine.evaluate(org, anInput(), "allow");
    expect([d.outcome, d.policyName]).toEqual(["deny", "cel-deny"]);
    expect(opa.calls.map((c) => c.path).sort()).toEqual(["warden/allow", "warden/deny"]);
    for (const c of opa.calls) expect(c.budgetMs).toBeLessThanOrEqual(400);
  });

  it("denies with opa_unavailable when OPA gives no usable answer", async () => {
    const { engine, policies } = engineWith({ opa: new FakeOpa({}) });
    policies.rows.set(org, [row(org, { name: "rego", language: "rego", source: "warden/x", outcome: "allow" })]);
    expect(await engine.evaluate(org, anInput(), "allow")).toMatchObject({ outcome: "deny", policyName: "rego", reason: "opa_unavailable" });
  });
});

// ---------------------------------------------------------------- OPA over HTTP

describe("OpaClient against an OPA-compatible server", () => {
  let opa: OpaServer;
  beforeAll(async () => {
    opa = await startOpaServer({
      "warden/authz/deny": (input) => input?.user?.org_role === "viewer",
      "warden/number": () => 1,
      "warden/string": () => "true",
    });
  });
  afterAll(async () => opa.close());

  const body = opaRequestBody(create(PolicyInputSchema, { user: { id: "u1", orgRole: "viewer", mfaEnrolled: false }, session: { ageSeconds: 30n } }));

  it("posts the input document and reads a boolean result", async () => {
    const client = new OpaClient({ url: `${opa.url}/`, timeoutMs: 1000 });
    opa.behaviour = { kind: "normal" };
    expect(await client.decide("warden/authz/deny", body, 1000)).toBe(true);
    const sent = opa.requests.at(-1)!;
    expect(sent.path).toBe("warden/authz/deny");
    // Field names as in CEL, defaults included (so Rego never reads an undefined false), int64 as proto JSON strings.
    expect(sent.input).toMatchObject({ user: { id: "u1", org_role: "viewer", mfa_enrolled: false }, session: { age_seconds: "30" } });
    const member = opaRequestBody(create(PolicyInputSchema, { user: { orgRole: "member" } }));
    expect(await client.decide("warden/authz/deny", member, 1000)).toBe(false);
  });

  it("has no answer for a result that is not a boolean, an undefined document, errors, slowness, or no server", async () => {
    const client = new OpaClient({ url: opa.url, timeoutMs: 150 });
    opa.behaviour = { kind: "normal" };
    expect(await client.decide("warden/number", body, 1000)).toBeUndefined();
    expect(await client.decide("warden/string", body, 1000)).toBeUndefined();
    expect(await client.decide("warden/nothing/here", body, 1000)).toBeUndefined();
    opa.behaviour = { kind: "status", status: 500 };
    expect(await client.decide("warden/authz/deny", body, 1000)).toBeUndefined();
    opa.behaviour = { kind: "malformed" };
    expect(await client.decide("warden/authz/deny", body, 1000)).toBeUndefined();
    opa.behaviour = { kind: "slow", ms: 600 };
    const started = performance.now();
    expect(await client.decide("warden/authz/deny", body, 1000)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(500);
    // The evaluation's remaining budget bounds the call too.
    opa.behaviour = { kind: "slow", ms: 100 };
    expect(await new OpaClient({ url: opa.url, timeoutMs: 5000 }).decide("warden/authz/deny", body, 30)).toBeUndefined();
    expect(await new OpaClient({ url: opa.url, timeoutMs: 5000 }).decide("warden/authz/deny", body, 0)).toBeUndefined();
    opa.behaviour = { kind: "normal" };
    expect(await new OpaClient({ url: undefined, timeoutMs: 1000 }).decide("warden/authz/deny", body, 1000)).toBeUndefined();
    expect(await new OpaClient({ url: "http://127.0.0.1:9", timeoutMs: 1000 }).decide("warden/authz/deny", body, 1000)).toBeUndefined();
    expect(await client.decide("../etc/passwd", body, 1000)).toBeUndefined();
  });
});

// ---------------------------------------------------------------- the input

describe("policy inputs", () => {
  const now = new Date("2030-01-01T12:00:00Z");
  const device = (over: Partial<DeviceRow>): DeviceRow => ({
    id: randomUUID(),
    organizationId: "o",
    userId: "u",
    name: "laptop",
    platform: "macos",
    keyType: "ed25519",
    publicKey: "",
    keyFingerprint: "f",
    trusted: true,
    createdAt: now,
    lastSeenAt: null,
    revokedAt: null,
    postureOs: "macOS",
    postureOsVersion: "15.1",
    postureDiskEncrypted: true,
    postureScreenLock: true,
    postureAgentVersion: "1.2.3",
    postureAt: new Date(now.getTime() - 600_000),
    ...over,
  });
  const parts = (over: Partial<Parameters<typeof buildPolicyInput>[0]> = {}) =>
    buildPolicyInput({
      user: { id: "u", email: "ada@example.com" },
      roles: ["auditor"],
      orgRole: "admin",
      mfaEnrolled: true,
      organization: { id: "o", tier: "enterprise" },
      device: undefined,
      postureMaxAgeSeconds: 3600,
      session: { authMethods: ["pwd", "mfa"], mfaAt: new Date(now.getTime() - 90_000), createdAt: new Date(now.getTime() - 3_600_000) },
      request: { ip: "10.0.0.1", time: now, userAgent: "ua", method: "/m" },
      now,
      ...over,
    });

  it("builds every part from rows and facts", () => {
    const i = parts({ device: device({}) });
    expect(i.user).toMatchObject({ id: "u", email: "ada@example.com", roles: ["auditor"], orgRole: "admin", mfaEnrolled: true });
    expect(i.organization).toMatchObject({ id: "o", tier: "enterprise" });
    expect(i.session).toMatchObject({ authMethods: ["pwd", "mfa"], mfa: true, mfaAgeSeconds: 90n, ageSeconds: 3600n });
    expect(i.device).toMatchObject({ registered: true, trusted: true, posture: { known: true, os: "macOS", diskEncrypted: true, ageSeconds: 600n } });
    expect(i.request?.ip).toBe("10.0.0.1");
  });

  it("counts stale posture as unknown, and a revoked device as none", () => {
    expect(parts({ device: device({ postureAt: new Date(now.getTime() - 7_200_000) }) }).device?.posture).toMatchObject({
      known: false,
      os: "",
      diskEncrypted: false,
    });
    expect(parts({ device: device({ revokedAt: now }) }).device).toMatchObject({ registered: false, trusted: false, id: "" });
    expect(parts({ session: { authMethods: ["pwd"] } }).session).toMatchObject({ mfa: false, mfaAgeSeconds: -1n, ageSeconds: 0n });
  });

  it("cuts strings and lists to the sizes the cost estimate assumes", () => {
    const i = parts({ roles: Array.from({ length: 500 }, (_, n) => `r${n}`), request: { ip: "x".repeat(5000), time: now, userAgent: "", method: "" } });
    expect(i.user?.roles).toHaveLength(64);
    expect(i.request?.ip).toHaveLength(1024);
  });

  it("reads EvaluatePolicy's input strictly", () => {
    expect(policyInputFromJson({ user: { org_role: "owner", roles: ["a"] }, request: { time: "2024-07-01T10:00:00Z" } }).user?.orgRole).toBe("owner");
    expect(policyInputFromJson({ session: { mfaAgeSeconds: "90" } }).session?.mfaAgeSeconds).toBe(90n);
    for (const bad of [{ user: { nickname: "x" } }, { request: { time: "noon" } }, { user: { roles: "admin" } }, [], "x"]) {
      try {
        policyInputFromJson(bad as never);
        expect.unreachable(JSON.stringify(bad));
      } catch (err) {
        expect((err as { reason?: string }).reason, JSON.stringify(bad)).toBe("POLICY_INPUT_INVALID");
      }
    }
    expect(() => policyInputFromJson({ user: { roles: Array.from({ length: 65 }, () => "r") } })).toThrow(/user\.roles is too large/);
    expect(() => policyInputFromJson({ request: { userAgent: "x".repeat(1025) } })).toThrow(/request\.userAgent is too large/);
  });

  it("names a session's methods as authentication-method references", () => {
    expect(authMethodsOf("password", null)).toEqual(["pwd"]);
    expect(authMethodsOf("password", now)).toEqual(["pwd", "mfa"]);
    expect(authMethodsOf("oidc", undefined)).toEqual(["fed"]);
    expect(authMethodsOf("passkey", now)).toEqual(["hwk", "mfa"]);
  });
});
