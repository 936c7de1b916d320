import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrgPolicyConfigService } from "../../gen/warden/orgpolicy/v1/org_policy_config_service_pb.js";
import { PolicyLanguage, PolicyOutcome, PolicyService } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { startOpaServer, type OpaBehaviour, type OpaServer } from "../helpers/opa-server.js";
import { TENANCY_SETTINGS, World, type Team } from "../helpers/tenancy-world.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

type Outcome = "allow" | "deny" | "require_mfa";
type Json = { [k: string]: unknown };

interface PolicySpec {
  name: string;
  source: string;
  outcome: Outcome;
  priority?: number;
  enabled?: boolean;
  rego?: boolean;
}

interface Case {
  name: string;
  /** Changes to the base input (merged deeply; lists replace). */
  input: Json;
  opa?: OpaBehaviour;
  /** "<outcome>:<policy name or ->:<reason, or its start>". */
  expect: string;
}

interface Scenario {
  title: string;
  policies: PolicySpec[];
  defaultOutcome?: Outcome;
  cases: Case[];
}

/** A trusted, healthy, MFA'd member on the corporate network on a Monday at noon in Berlin. */
const BASE: Json = {
  user: { id: "u-1", email: "ada@example.com", roles: [], org_role: "member", mfa_enrolled: true },
  organization: { id: "o-1", tier: "free" },
  device: {
    id: "d-1",
    registered: true,
    trusted: true,
    posture: { known: true, os: "macOS", os_version: "15.1", disk_encrypted: true, screen_lock: true, agent_version: "1.0.0", age_seconds: "600" },
  },
  session: { auth_methods: ["pwd", "mfa"], mfa: true, mfa_age_seconds: "120", age_seconds: "600" },
  request: { ip: "10.1.2.3", time: "2024-07-01T10:00:00Z", user_agent: "test", method: "/warden.auth.v1.AuthService/Login" },
};

function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over))
    out[k] = v && typeof v === "object" && !Array.isArray(v) && base[k] && typeof base[k] === "object" ? merge(base[k] as Json, v as Json) : v;
  return out;
}

const at = (time: string) => ({ request: { time } });
const ip = (address: string) => ({ request: { ip: address } });
const role = (org_role: string, extra: Json = {}) => ({ user: { org_role, ...extra } });

const SCENARIOS: Scenario[] = [
  {
    title: "trusted devices only",
    policies: [{ name: "untrusted-device", source: "!device.registered || !device.trusted", outcome: "deny" }],
    cases: [
      { name: "a trusted device passes", input: {}, expect: "allow:-:default" },
      { name: "an untrusted device is denied", input: { device: { trusted: false } }, expect: "deny:untrusted-device:matched" },
      { name: "no registered device is denied", input: { device: { registered: false, trusted: false, id: "" } }, expect: "deny:untrusted-device:matched" },
    ],
  },
  {
    title: "healthy posture, by default deny",
    defaultOutcome: "deny",
    policies: [
      {
        name: "healthy",
        source: "device.posture.known && device.posture.disk_encrypted && device.posture.screen_lock && device.posture.age_seconds < 3600",
        outcome: "allow",
      },
    ],
    cases: [
      { name: "a fresh, encrypted, locked device is allowed", input: {}, expect: "allow:healthy:matched" },
      {
        name: "stale posture counts as unknown",
        input: { device: { posture: { known: false, os: "", disk_encrypted: false, screen_lock: false, age_seconds: "0" } } },
        expect: "deny:-:default",
      },
      { name: "an unencrypted disk is not healthy", input: { device: { posture: { disk_encrypted: false } } }, expect: "deny:-:default" },
      { name: "an old report is not healthy", input: { device: { posture: { age_seconds: "7200" } } }, expect: "deny:-:default" },
    ],
  },
  {
    title: "a second factor in the last 15 minutes",
    policies: [{ name: "fresh-mfa", source: "!session.mfa || session.mfa_age_seconds > 900", outcome: "require_mfa" }],
    cases: [
      { name: "MFA two minutes ago is enough", input: {}, expect: "allow:-:default" },
      { name: "MFA twenty minutes ago is not", input: { session: { mfa_age_seconds: "1200" } }, expect: "require_mfa:fresh-mfa:matched" },
      {
        name: "no MFA at all asks for it",
        input: { session: { auth_methods: ["pwd"], mfa: false, mfa_age_seconds: "-1" } },
        expect: "require_mfa:fresh-mfa:matched",
      },
    ],
  },
  {
    title: "admins must enroll a second factor",
    policies: [{ name: "admins-enroll", source: "user.org_role in ['owner', 'admin'] && !user.mfa_enrolled", outcome: "deny" }],
    cases: [
      { name: "an admin without a factor is denied", input: role("admin", { mfa_enrolled: false }), expect: "deny:admins-enroll:matched" },
      { name: "an admin with one passes", input: role("admin"), expect: "allow:-:default" },
      { name: "a member without one passes", input: role("member", { mfa_enrolled: false }), expect: "allow:-:default" },
    ],
  },
  {
    title: "enterprise tier only",
    defaultOutcome: "deny",
    policies: [{ name: "enterprise", source: "organization.tier == 'enterprise'", outcome: "allow" }],
    cases: [
      { name: "enterprise is allowed", input: { organization: { tier: "enterprise" } }, expect: "allow:enterprise:matched" },
      { name: "free is not", input: {}, expect: "deny:-:default" },
    ],
  },
  {
    title: "system roles",
    defaultOutcome: "deny",
    policies: [{ name: "security-staff", source: "'auditor' in user.roles || user.roles.exists(r, r.startsWith('security-'))", outcome: "allow" }],
    cases: [
      { name: "an auditor is allowed", input: { user: { roles: ["viewer", "auditor"] } }, expect: "allow:security-staff:matched" },
      { name: "security-ops is allowed", input: { user: { roles: ["security-ops"] } }, expect: "allow:security-staff:matched" },
      { name: "no role is denied", input: {}, expect: "deny:-:default" },
    ],
  },
  {
    title: "organization roles",
    policies: [{ name: "no-viewers", source: "user.org_role == 'viewer'", outcome: "deny" }],
    cases: [
      { name: "a viewer is denied", input: role("viewer"), expect: "deny:no-viewers:matched" },
      { name: "an owner passes", input: role("owner"), expect: "allow:-:default" },
    ],
  },
  {
    title: "office hours in Berlin, weekdays",
    policies: [
      {
        name: "office-hours",
        source: "!in_time_window(request.time, '08:00', '18:00', 'Europe/Berlin') || weekday(request.time, 'Europe/Berlin') in [0, 6]",
        outcome: "deny",
      },
    ],
    cases: [
      { name: "Monday noon passes", input: at("2024-07-01T10:00:00Z"), expect: "allow:-:default" },
      { name: "Monday 19:30 is denied", input: at("2024-07-01T17:30:00Z"), expect: "deny:office-hours:matched" },
      { name: "Saturday noon is denied", input: at("2024-07-06T10:00:00Z"), expect: "deny:office-hours:matched" },
      { name: "06:30 UTC in summer is 08:30 CEST: passes", input: at("2024-07-01T06:30:00Z"), expect: "allow:-:default" },
      { name: "06:30 UTC in winter is 07:30 CET: denied", input: at("2024-01-15T06:30:00Z"), expect: "deny:office-hours:matched" },
    ],
  },
  {
    title: "night shift in Tokyo, across midnight",
    defaultOutcome: "deny",
    policies: [{ name: "night-shift", source: "in_time_window(request.time, '22:00', '06:00', 'Asia/Tokyo')", outcome: "allow" }],
    cases: [
      { name: "23:00 JST is in", input: at("2024-07-01T14:00:00Z"), expect: "allow:night-shift:matched" },
      { name: "03:00 JST is in", input: at("2024-07-01T18:00:00Z"), expect: "allow:night-shift:matched" },
      { name: "07:00 JST is out", input: at("2024-07-01T22:00:00Z"), expect: "deny:-:default" },
    ],
  },
  {
    title: "corporate networks, IPv4 and IPv6",
    defaultOutcome: "deny",
    policies: [{ name: "corp-net", source: "ip_in_cidr(request.ip, '10.0.0.0/8') || ip_in_cidr(request.ip, '2001:db8::/32')", outcome: "allow" }],
    cases: [
      { name: "10.1.2.3 is in", input: ip("10.1.2.3"), expect: "allow:corp-net:matched" },
      { name: "192.168.1.10 is out", input: ip("192.168.1.10"), expect: "deny:-:default" },
      { name: "2001:db8:abcd::1 is in", input: ip("2001:db8:abcd::1"), expect: "allow:corp-net:matched" },
      { name: "2001:db9::1 is out", input: ip("2001:db9::1"), expect: "deny:-:default" },
      { name: "an IPv4-mapped IPv6 address matches the IPv4 range", input: ip("::ffff:10.9.8.7"), expect: "allow:corp-net:matched" },
      { name: "an unparsable address is in no range", input: ip("not-an-address"), expect: "deny:-:default" },
    ],
  },
  {
    title: "deny beats allow",
    policies: [
      { name: "vip", source: "'vip' in user.roles", outcome: "allow", priority: 100 },
      { name: "blocked-net", source: "ip_in_cidr(request.ip, '203.0.113.0/24')", outcome: "deny", priority: 1 },
    ],
    cases: [
      {
        name: "a VIP from a blocked network is denied",
        input: { user: { roles: ["vip"] }, request: { ip: "203.0.113.50" } },
        expect: "deny:blocked-net:matched",
      },
      { name: "a VIP elsewhere is allowed by the VIP policy", input: { user: { roles: ["vip"] } }, expect: "allow:vip:matched" },
    ],
  },
  {
    title: "priorities and ties",
    policies: [
      { name: "high-allow", source: "user.email.endsWith('@high.example')", outcome: "allow", priority: 10 },
      { name: "mid-mfa", source: "true", outcome: "require_mfa", priority: 5 },
      { name: "mid-allow", source: "user.email.endsWith('@mid.example')", outcome: "allow", priority: 5 },
      { name: "deny-a", source: "'x' in user.roles", outcome: "deny", priority: 3 },
      { name: "deny-b", source: "'x' in user.roles && 'y' in user.roles", outcome: "deny", priority: 7 },
    ],
    cases: [
      { name: "the higher-priority allow wins over require_mfa", input: { user: { email: "a@high.example" } }, expect: "allow:high-allow:matched" },
      { name: "at equal priority require_mfa wins over allow", input: { user: { email: "a@mid.example" } }, expect: "require_mfa:mid-mfa:matched" },
      { name: "otherwise the only true one decides", input: {}, expect: "require_mfa:mid-mfa:matched" },
      { name: "a true deny decides over everything", input: { user: { email: "a@high.example", roles: ["x"] } }, expect: "deny:deny-a:matched" },
      { name: "of two true denies the higher priority decides", input: { user: { roles: ["x", "y"] } }, expect: "deny:deny-b:matched" },
    ],
  },
  {
    title: "disabled policies",
    policies: [{ name: "off", source: "true", outcome: "deny", priority: 100, enabled: false }],
    cases: [{ name: "a disabled deny is ignored", input: {}, expect: "allow:-:default" }],
  },
  {
    title: "runtime errors deny",
    policies: [
      { name: "vip", source: "'vip' in user.roles", outcome: "allow", priority: 100 },
      { name: "region-lookup", source: "{'example.eu': true, 'example.us': false}[user.email.split('@')[1]]", outcome: "allow", priority: 1 },
      { name: "age-overflow", source: "session.age_seconds + 9223372036854775000 < 0", outcome: "deny", priority: 0 },
    ],
    cases: [
      { name: "a known region is allowed", input: { user: { email: "ada@example.eu" } }, expect: "allow:region-lookup:matched" },
      { name: "an unknown key is a runtime error: denied", input: {}, expect: "deny:region-lookup:runtime_error: " },
      { name: "a runtime error denies even beside a true allow", input: { user: { roles: ["vip"] } }, expect: "deny:region-lookup:runtime_error: " },
      {
        name: "an integer overflow is a runtime error: denied",
        input: { user: { email: "ada@example.eu" }, session: { age_seconds: "1000" } },
        expect: "deny:age-overflow:runtime_error: int overflow",
      },
    ],
  },
  {
    title: "Rego deny through OPA",
    policies: [{ name: "opa-deny", source: "warden/authz/deny", outcome: "deny", priority: 10, rego: true }],
    cases: [
      { name: "OPA true denies", input: role("contractor"), expect: "deny:opa-deny:matched" },
      { name: "OPA false leaves the default", input: role("member"), expect: "allow:-:default" },
      { name: "OPA answering 500 denies", input: role("member"), opa: { kind: "status", status: 500 }, expect: "deny:opa-deny:opa_unavailable" },
      { name: "OPA slower than opa_timeout_ms denies", input: role("member"), opa: { kind: "slow", ms: 1500 }, expect: "deny:opa-deny:opa_unavailable" },
      { name: "OPA answering garbage denies", input: role("member"), opa: { kind: "malformed" }, expect: "deny:opa-deny:opa_unavailable" },
      { name: "OPA down (connection reset) denies", input: role("member"), opa: { kind: "drop" }, expect: "deny:opa-deny:opa_unavailable" },
    ],
  },
  {
    title: "Rego allow through OPA, by default deny",
    defaultOutcome: "deny",
    policies: [{ name: "opa-partner", source: "warden/authz/partner", outcome: "allow", rego: true }],
    cases: [
      { name: "OPA true allows", input: { organization: { tier: "partner" } }, expect: "allow:opa-partner:matched" },
      { name: "OPA false leaves the default", input: {}, expect: "deny:-:default" },
    ],
  },
  {
    title: "OPA answers that are no decision",
    policies: [
      { name: "opa-undefined", source: "warden/authz/missing", outcome: "allow", priority: 2, rego: true },
      { name: "opa-number", source: "warden/authz/number", outcome: "allow", priority: 1, rego: true },
    ],
    cases: [{ name: "an undefined document denies by the higher policy", input: {}, expect: "deny:opa-undefined:opa_unavailable" }],
  },
  {
    title: "a CEL deny above a Rego policy",
    policies: [
      { name: "cel-first", source: "user.org_role == 'viewer'", outcome: "deny", priority: 100 },
      { name: "opa-partner", source: "warden/authz/partner", outcome: "allow", priority: 1, rego: true },
    ],
    cases: [
      {
        name: "decides without asking OPA, even when OPA is failing",
        input: role("viewer"),
        opa: { kind: "status", status: 500 },
        expect: "deny:cel-first:matched",
      },
    ],
  },
];

const OUTCOMES: Record<Outcome, PolicyOutcome> = { allow: PolicyOutcome.ALLOW, deny: PolicyOutcome.DENY, require_mfa: PolicyOutcome.REQUIRE_MFA };
const NAMES = new Map(Object.entries(OUTCOMES).map(([k, v]) => [v, k]));

describe("policy decisions, end to end through EvaluatePolicy", () => {
  let opa: OpaServer;
  let t: TestApp;
  let team: Team;
  const orgOf = new Map<string, string>();

  beforeAll(async () => {
    opa = await startOpaServer({
      "warden/authz/deny": (input) => input.user.org_role === "contractor",
      "warden/authz/partner": (input) => input.organization.tier === "partner",
      "warden/authz/number": () => 42,
    });
    t = await createTestApp({ ...TENANCY_SETTINGS, max_organizations_per_user: 1000, opa_url: opa.url, opa_timeout_ms: 300, policy_eval_timeout_ms: 3000 });
    const w = new World(t);
    team = await w.team("decide");
    const policies = t.client(PolicyService);
    for (const s of SCENARIOS) {
      const org = await w.org(team.owner);
      orgOf.set(s.title, org.id);
      if (s.defaultOutcome)
        await t
          .client(OrgPolicyConfigService)
          .updateOrgPolicyConfig({ organizationId: org.id, defaultPolicyOutcome: OUTCOMES[s.defaultOutcome] }, team.owner.as);
      for (const p of s.policies)
        await policies.createPolicy(
          {
            policy: {
              organizationId: org.id,
              name: p.name,
              language: p.rego ? PolicyLanguage.REGO : PolicyLanguage.CEL,
              source: p.source,
              outcome: OUTCOMES[p.outcome],
              priority: p.priority ?? 0,
              enabled: p.enabled ?? true,
            },
          },
          team.owner.as,
        );
    }
  });
  afterAll(async () => {
    await t?.close();
    await opa?.close();
  });

  it("has at least 40 cases", () => {
    expect(SCENARIOS.flatMap((s) => s.cases).length).toBeGreaterThanOrEqual(40);
  });

  for (const s of SCENARIOS)
    describe(s.title, () => {
      for (const c of s.cases)
        it(c.name, async () => {
          opa.behaviour = c.opa ?? { kind: "normal" };
          const asked = opa.requests.length;
          try {
            const d = await t
              .client(PolicyService)
              .evaluatePolicy({ organizationId: orgOf.get(s.title)!, input: merge(BASE, c.input) as never }, team.owner.as);
            const [outcome, name, reason] = c.expect.split(/:(.*?):(.*)/s);
            expect(`${NAMES.get(d.outcome)}:${d.policyName || "-"}`).toBe(`${outcome}:${name}`);
            expect(d.reason.startsWith(reason!), `reason "${d.reason}"`).toBe(true);
            if (d.policyName) expect(d.policyId).toMatch(/^[0-9a-f-]{36}$/);
            if (d.outcome !== PolicyOutcome.ALLOW) expect(d.message).not.toBe("");
            if (!s.policies.some((p) => p.rego) || s.title === "a CEL deny above a Rego policy") expect(opa.requests.length).toBe(asked);
          } finally {
            opa.behaviour = { kind: "normal" };
          }
        });
    });

  it("OPA saw the same input document, with the field names CEL uses", () => {
    const seen = opa.requests.find((r) => r.path === "warden/authz/deny")!.input as Json;
    expect(seen).toMatchObject({
      user: { org_role: "contractor", mfa_enrolled: true },
      device: { posture: { disk_encrypted: true } },
      request: { time: "2024-07-01T10:00:00Z" },
    });
  });
});
