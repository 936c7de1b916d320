import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { MemberRole } from "../../gen/warden/org/v1/organization_pb.js";
import { PolicyLanguage, PolicyOutcome } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { deviceProof, registerDevice } from "../helpers/device-keys.js";
import { expectFailure } from "../helpers/expect-error.js";
import { auditOf, signUp, type Member } from "../helpers/mfa-world.js";
import { bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { zeroTrustClients, type ZeroTrustClients } from "../helpers/zero-trust-clients.js";

/**
 * "Changes apply to existing sessions at their next call": an organization's device section and
 * access policies decide every user call of an organization method, so a session opened before
 * a change meets it at its very next call there (not only at its next refresh). The calls that
 * satisfy or repair the rules (zero_trust_exempt) stay open, so a rule stricter than intended
 * locks no admin out of undoing it.
 */
describe("zero trust at every organization call", () => {
  let t: TestApp;
  let c: ZeroTrustClients;
  beforeAll(async () => {
    t = await createTestApp();
    c = zeroTrustClients(t);
  });
  afterAll(async () => t?.close());

  /** An organization owned by a new user, with a member who accepted; both signed in before any rule exists. */
  async function team(tag: string): Promise<{ owner: Member; member: Member; orgId: string }> {
    const owner = await signUp(t, `${tag}-owner`);
    const member = await signUp(t, `${tag}-member`);
    const { organization } = await c.orgs.createOrganization({ name: `${tag} org` }, owner.h);
    const orgId = organization!.id;
    await c.members.addMember({ organizationId: orgId, userId: member.userId, role: MemberRole.MEMBER }, owner.h);
    await c.members.acceptMembership({ organizationId: orgId }, member.h);
    return { owner, member, orgId };
  }
  const listMembers = (orgId: string, m: Member) => c.members.listMembers({ organizationId: orgId }, m.h);

  it("a device rule switched on reaches existing sessions at their next call; the enrolment and repair calls stay open", async () => {
    const { owner, member, orgId } = await team("device-rule");
    expect((await listMembers(orgId, member)).members.length).toBe(2);

    await c.config.updateOrgPolicyConfig({ organizationId: orgId, device: { requireRegistered: true } }, owner.h);
    // Same access tokens, no refresh: both sessions meet the rule at once, the owner's too.
    await expectFailure(listMembers(orgId, member), Code.PermissionDenied, "DEVICE_REQUIRED");
    await expectFailure(listMembers(orgId, owner), Code.PermissionDenied, "DEVICE_REQUIRED");
    await expectFailure(c.orgs.getOrganization({ id: orgId }, member.h), Code.PermissionDenied, "DEVICE_REQUIRED");
    expect((await auditOf(t, "policy.deny", member.userId)).some((e) => e.details?.phase === "call")).toBe(true);

    // Exempt: reading the rules, a dry run, registering a device and listing devices.
    expect((await c.config.getOrgPolicyConfig({ organizationId: orgId }, member.h)).config?.device?.requireRegistered).toBe(true);
    expect((await c.policies.evaluatePolicy({ organizationId: orgId }, member.h)).outcome).toBe(PolicyOutcome.ALLOW);
    const { device, key } = await registerDevice(c.devices, orgId, { as: member.h });
    expect((await c.devices.listDevices({ organizationId: orgId }, member.h)).devices.map((d) => d.id)).toContain(device!.id);

    // A session bound to the registered device passes; the unbound one still does not.
    const bound = await c.auth.login({ email: member.email, password: STRONG_PASSWORD, deviceProof: await deviceProof(c.devices, device!.id, key, "sign_in") });
    expect((await listMembers(orgId, { ...member, h: bearer(bound.accessToken) })).members.length).toBe(2);
    await expectFailure(listMembers(orgId, member), Code.PermissionDenied, "DEVICE_REQUIRED");

    // The owner, with no device at all, can still undo the rule; then every session passes again.
    await c.config.updateOrgPolicyConfig({ organizationId: orgId, device: { requireRegistered: false } }, owner.h);
    expect((await listMembers(orgId, member)).members.length).toBe(2);
    expect((await listMembers(orgId, owner)).members.length).toBe(2);
  });

  it("a deny policy created now refuses the next call with POLICY_DENIED naming it; deleting it reopens at once", async () => {
    const { owner, member, orgId } = await team("deny-now");
    const other = await team("bystander");
    expect((await listMembers(orgId, member)).members.length).toBe(2);

    const { policy } = await c.policies.createPolicy(
      {
        policy: {
          organizationId: orgId,
          name: "members out",
          language: PolicyLanguage.CEL,
          source: `user.org_role == "member"`,
          outcome: PolicyOutcome.DENY,
          message: "members are locked out for the audit",
          enabled: true,
        },
      },
      owner.h,
    );
    const failure = await expectFailure(listMembers(orgId, member), Code.PermissionDenied, "POLICY_DENIED");
    expect(failure.message).toContain('policy "members out"');
    expect(failure.message).toContain("members are locked out for the audit");
    // The owner is not a member by role; another organization's sessions are not affected.
    expect((await listMembers(orgId, owner)).members.length).toBe(2);
    expect((await listMembers(other.orgId, other.member)).members.length).toBe(2);
    // The decision is explainable from the member's own session, which the dry run may still use.
    const dry = await c.policies.evaluatePolicy({ organizationId: orgId }, member.h);
    expect([dry.outcome, dry.policyName]).toEqual([PolicyOutcome.DENY, "members out"]);

    await c.policies.deletePolicy({ id: policy!.id }, owner.h);
    expect((await listMembers(orgId, member)).members.length).toBe(2);
  });

  it("a policy that locks out its own admins can be listed, dry-run and deleted by them", async () => {
    const { owner, member, orgId } = await team("self-lockout");
    await c.config.updateOrgPolicyConfig({ organizationId: orgId, defaultPolicyOutcome: PolicyOutcome.DENY }, owner.h);
    await expectFailure(listMembers(orgId, owner), Code.PermissionDenied, "POLICY_DENIED");
    await expectFailure(listMembers(orgId, member), Code.PermissionDenied, "POLICY_DENIED");
    expect((await c.policies.listPolicies({ organizationId: orgId }, owner.h)).policies).toEqual([]);
    expect((await c.policies.evaluatePolicy({ organizationId: orgId }, owner.h)).reason).toBe("default");
    await c.config.updateOrgPolicyConfig({ organizationId: orgId, defaultPolicyOutcome: PolicyOutcome.ALLOW }, owner.h);
    expect((await listMembers(orgId, owner)).members.length).toBe(2);
  });

  it("calls outside the organization meet the change at the session's next refresh; machine credentials are not users' sessions", async () => {
    const { owner, member, orgId } = await team("scope");
    const key = await c.keys.createApiKey({ organizationId: orgId, name: "ci", scopes: [ApiKeyScope.READ] }, owner.h);
    await c.config.updateOrgPolicyConfig({ organizationId: orgId, defaultPolicyOutcome: PolicyOutcome.DENY }, owner.h);
    // The member's own things are not the organization's: they stay reachable until the refresh.
    expect((await c.sessions.listSessions({}, member.h)).sessions.length).toBeGreaterThan(0);
    await expectFailure(c.auth.refresh({ refreshToken: member.refreshToken }), Code.PermissionDenied, "POLICY_DENIED");
    // An API key is the organization's own credential, governed by its scopes.
    expect((await c.members.listMembers({ organizationId: orgId }, bearer(key.secret))).members.length).toBe(2);
  });
});
