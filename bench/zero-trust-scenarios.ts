import { OrganizationService } from "../gen/warden/org/v1/organization_service_pb.js";
import { OrgPolicyConfigService, UrlAction } from "../gen/warden/orgpolicy/v1/org_policy_config_service_pb.js";
import { PolicyLanguage, PolicyOutcome, PolicyService } from "../gen/warden/policy/v1/policy_service_pb.js";
import { callOnce, unaryOp, type Ratio, type Scenario } from "./scenarios.js";

export const URL_RULES = 1000;
export const CEL_POLICIES = 20;

/** 1,000 rules over 500 domains: exact hosts, wildcards, path prefixes, ports, schemes. */
function urlRules(): { allow: string[]; block: string[] } {
  const allow: string[] = [];
  const block: string[] = [];
  for (let i = 0; i < URL_RULES / 2; i++) {
    allow.push(i % 3 === 0 ? `*.allowed-${i}.example` : i % 3 === 1 ? `https://app-${i}.example/docs` : `app-${i}.example:8443`);
    block.push(i % 2 === 0 ? `*.blocked-${i}.example` : `https://app-${i}.example/admin`);
  }
  return { allow, block };
}

/** Twenty policies of the shapes organizations write; for the bench input none but the last one is true. */
function celPolicies(allowing: string): { name: string; source: string; outcome: PolicyOutcome }[] {
  const shapes = [
    (i: number) => `user.org_role == "viewer" && request.method.endsWith("/Delete${i}")`,
    (i: number) => `!device.trusted && user.email.endsWith("@contractor-${i}.example")`,
    (i: number) => `ip_in_cidr(request.ip, "10.${i}.0.0/16")`,
    (i: number) => `!in_time_window(request.time, "00:00", "23:59", "Europe/Berlin") && organization.tier == "free${i}"`,
    (i: number) => `device.posture.known && !device.posture.disk_encrypted && user.roles.exists(r, r == "ops-${i}")`,
  ];
  return Array.from({ length: CEL_POLICIES }, (_, i) => ({
    name: `bench policy ${i}`,
    source: i === CEL_POLICIES - 1 ? allowing : shapes[i % shapes.length]!(i),
    outcome: i === CEL_POLICIES - 1 ? PolicyOutcome.ALLOW : i % 2 ? PolicyOutcome.DENY : PolicyOutcome.REQUIRE_MFA,
  }));
}

type Pool = Parameters<Scenario["prepare"]>[0]["pool"];

/** An organization with the twenty bench policies; the last one (`allowing`) is true for the bench's input. */
async function policiesOrganization(pool: Pool, auth: Record<string, string>, name: string, allowing: string): Promise<string> {
  const { organization } = await callOnce(pool, OrganizationService.method.createOrganization, { name }, auth);
  const organizationId = organization!.id;
  for (const [priority, p] of celPolicies(allowing).entries())
    await callOnce(
      pool,
      PolicyService.method.createPolicy,
      { policy: { organizationId, name: p.name, language: PolicyLanguage.CEL, source: p.source, outcome: p.outcome, priority, enabled: true } },
      auth,
    );
  return organizationId;
}

/** Every policy was evaluated: none but the last (lowest priority) matched. */
function expectLastPolicyAllows(r: { outcome: PolicyOutcome; policyName: string; reason: string }): void {
  if (r.outcome !== PolicyOutcome.ALLOW || r.policyName !== `bench policy ${CEL_POLICIES - 1}`)
    throw new Error(`EvaluatePolicy: expected the last policy to allow, got ${PolicyOutcome[r.outcome]} by "${r.policyName}" (${r.reason})`);
}

export const ZERO_TRUST_SCENARIOS: Scenario[] = [
  {
    name: "CheckUrlAccess (1,000 rules)",
    measures:
      "warden.orgpolicy.v1.OrgPolicyConfigService/CheckUrlAccess with `authorization: Bearer <access JWT>` against an organization with 1,000 URL rules: token, org membership, the zero-trust gate (the method sets evaluate_policies), WHATWG URL parsing and the host-indexed match.",
    where: "server",
    async prepare({ pool, accessToken }) {
      const auth = { authorization: `Bearer ${accessToken}` };
      const { organization } = await callOnce(pool, OrganizationService.method.createOrganization, { name: "Bench URL rules" }, auth);
      const organizationId = organization!.id;
      const rules = urlRules();
      await callOnce(
        pool,
        OrgPolicyConfigService.method.updateOrgPolicyConfig,
        { organizationId, accessControl: { ...rules, defaultAction: UrlAction.ALLOW } },
        auth,
      );
      const url = "https://App-333.example/admin/users?page=2";
      const r = await callOnce(pool, OrgPolicyConfigService.method.checkUrlAccess, { organizationId, url }, auth);
      if (r.allowed || !r.matchedRule.startsWith("block:")) throw new Error(`CheckUrlAccess: expected a block rule to match, got ${r.matchedRule}`);
      return unaryOp(pool, OrgPolicyConfigService.method.checkUrlAccess, { organizationId, url }, auth);
    },
  },
  {
    name: "EvaluatePolicy (20 CEL policies, caller's context)",
    measures:
      "warden.policy.v1.PolicyService/EvaluatePolicy with `authorization: Bearer <access JWT>` and no input (a member's dry run of their own session) against 20 enabled CEL policies (string, CIDR, time-zone and list checks), compiled and cached: token, org role, the caller's session, user and device read from the caches into the typed input, every policy evaluated.",
    where: "server",
    async prepare({ pool, accessToken }) {
      const auth = { authorization: `Bearer ${accessToken}` };
      const organizationId = await policiesOrganization(pool, auth, "Bench policies (own context)", `user.org_role == "owner"`);
      const r = await callOnce(pool, PolicyService.method.evaluatePolicy, { organizationId }, auth);
      expectLastPolicyAllows(r);
      return unaryOp(pool, PolicyService.method.evaluatePolicy, { organizationId }, auth);
    },
  },
  {
    name: "EvaluatePolicy (20 CEL policies, explicit input)",
    measures:
      "warden.policy.v1.PolicyService/EvaluatePolicy with `authorization: Bearer <access JWT>` and an explicit input (a dry run by an org admin, the input a google.protobuf.Struct) against the same 20 CEL policies: token, org role, Struct decoding, the strict conversion to PolicyInput, every policy evaluated.",
    where: "server",
    async prepare({ pool, accessToken }) {
      const auth = { authorization: `Bearer ${accessToken}` };
      const organizationId = await policiesOrganization(pool, auth, "Bench policies (explicit input)", `user.org_role == "member"`);
      const input = {
        user: { id: "00000000-0000-4000-8000-000000000001", email: "ann@acme.example", roles: ["developer"], org_role: "member", mfa_enrolled: true },
        organization: { id: organizationId, tier: "professional" },
        device: { id: "00000000-0000-4000-8000-000000000002", registered: true, trusted: true, posture: { known: true, os: "linux", disk_encrypted: true } },
        session: { auth_methods: ["pwd", "mfa", "otp"], mfa: true, mfa_age_seconds: "600", age_seconds: "3600" },
        request: { ip: "203.0.113.7", time: "2026-12-01T12:00:00Z", user_agent: "bench", method: "/warden.auth.v1.AuthService/Login" },
      };
      expectLastPolicyAllows(await callOnce(pool, PolicyService.method.evaluatePolicy, { organizationId, input }, auth));
      return unaryOp(pool, PolicyService.method.evaluatePolicy, { organizationId, input }, auth);
    },
  },
];

export const ZERO_TRUST_RATIOS: Ratio[] = [
  {
    numerator: "CheckUrlAccess (1,000 rules)",
    denominator: "HealthCheck",
    target: 0.7,
    why: "a URL check against 1,000 rules should cost little more than an authenticated call (the rules are indexed by host)",
  },
  {
    numerator: "EvaluatePolicy (20 CEL policies, caller's context)",
    denominator: "HealthCheck",
    target: 0.7,
    why: "twenty compiled CEL policies should cost little more than an authenticated call",
  },
  {
    numerator: "EvaluatePolicy (20 CEL policies, explicit input)",
    denominator: "HealthCheck",
    target: 0.7,
    why: "the same, with the input decoded from a google.protobuf.Struct and converted strictly",
  },
];
