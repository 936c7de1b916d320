import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { DeviceService } from "../../gen/warden/device/v1/device_service_pb.js";
import { OrganizationTier } from "../../gen/warden/org/v1/organization_pb.js";
import { MembershipService } from "../../gen/warden/org/v1/membership_service_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { OrgPolicyConfigService } from "../../gen/warden/orgpolicy/v1/org_policy_config_service_pb.js";
import { PolicyLanguage, PolicyOutcome, PolicyService } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { PasskeyService } from "../../gen/warden/passkey/v1/passkey_service_pb.js";
import { SoftAuthenticator } from "../helpers/soft-authenticator.js";
import { MemberRole } from "../../gen/warden/org/v1/organization_pb.js";
import { deviceProof, registerDevice } from "../helpers/device-keys.js";
import { expectFailure } from "../helpers/expect-error.js";
import { auditOf, signUp, signUpWithTotp, startChallenge, totpAt, type Member } from "../helpers/mfa-world.js";
import { bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

/**
 * The zero-trust gate on the sign-in paths: every Login, VerifyMFA, AuthenticateLocal and
 * Refresh is decided by the organizations' device rules and access policies, and a change
 * holds at the next sign-in or refresh of sessions opened before it.
 */
describe("zero trust at sign-in and refresh", () => {
  let t: TestApp;
  let auth: Client<typeof AuthService>;
  let orgs: Client<typeof OrganizationService>;
  let members: Client<typeof MembershipService>;
  let policies: Client<typeof PolicyService>;
  let config: Client<typeof OrgPolicyConfigService>;
  let devices: Client<typeof DeviceService>;
  let sessions: Client<typeof SessionService>;

  beforeAll(async () => {
    t = await createTestApp();
    auth = t.client(AuthService);
    orgs = t.client(OrganizationService);
    members = t.client(MembershipService);
    policies = t.client(PolicyService);
    config = t.client(OrgPolicyConfigService);
    devices = t.client(DeviceService);
    sessions = t.client(SessionService);
  });
  afterAll(async () => t?.close());

  /** Adds `m` as a member, and `m` accepts: from then on the organization's rules decide m's sign-ins. */
  async function join(orgId: string, owner: Member, m: Member): Promise<void> {
    await members.addMember({ organizationId: orgId, userId: m.userId, role: MemberRole.MEMBER }, owner.h);
    await members.acceptMembership({ organizationId: orgId }, m.h);
  }

  /** An organization owned by a new user, with `member` (a plain member who accepted) in it. */
  async function team(tag: string, tier = OrganizationTier.FREE): Promise<{ owner: Member; member: Member; orgId: string }> {
    const owner = await signUp(t, `${tag}-owner`);
    const member = await signUp(t, `${tag}-member`);
    const { organization } = await orgs.createOrganization({ name: `${tag} org`, tier }, owner.h);
    await join(organization!.id, owner, member);
    return { owner, member, orgId: organization!.id };
  }

  async function policy(owner: Member, orgId: string, name: string, source: string, outcome: PolicyOutcome, priority = 0, message = ""): Promise<string> {
    const { policy } = await policies.createPolicy(
      { policy: { organizationId: orgId, name, language: PolicyLanguage.CEL, source, outcome, message, priority, enabled: true } },
      owner.h,
    );
    return policy!.id;
  }

  const passwordLogin = (m: Member) => auth.login({ email: m.email, password: STRONG_PASSWORD });

  it("a deny policy refuses Login with POLICY_DENIED naming the policy, audited; other organizations' members are not affected", async () => {
    const { owner, member, orgId } = await team("deny");
    const bystander = await signUp(t, "bystander");
    await policy(owner, orgId, "no members", `user.org_role == "member"`, PolicyOutcome.DENY, 0, "members may not sign in today");
    const failure = await expectFailure(passwordLogin(member), Code.PermissionDenied, "POLICY_DENIED");
    expect(failure.message).toContain('policy "no members"');
    expect(failure.message).toContain("members may not sign in today");
    expect(failure.metadata?.policy_name ?? failure.message).toContain("no members");
    // The owner is not a member by role, and a user of no organization is decided by nobody.
    expect((await passwordLogin(owner)).accessToken).not.toBe("");
    expect((await passwordLogin(bystander)).accessToken).not.toBe("");
    const refusals = await auditOf(t, "policy.deny", member.userId);
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals[0]!.details).toMatchObject({ phase: "sign_in", organization_id: orgId, policy_name: "no members" });
  });

  it("passkey sign-ins pass the same gate (amr hwk)", async () => {
    const { owner, member, orgId } = await team("passkey");
    const passkeys = t.client(PasskeyService);
    const authenticator = new SoftAuthenticator();
    const reg = await passkeys.startPasskeyRegistration({ name: "laptop" }, member.h);
    await passkeys.completePasskeyRegistration({ challengeId: reg.challengeId, responseJson: authenticator.register(reg.optionsJson) }, member.h);
    const passkeyLogin = async () => {
      const start = await passkeys.startPasskeyAuthentication({ email: member.email });
      return passkeys.completePasskeyAuthentication({ challengeId: start.challengeId, responseJson: authenticator.assert(start.optionsJson) });
    };
    expect((await passkeyLogin()).accessToken).not.toBe("");
    await policy(owner, orgId, "no passkeys here", `"hwk" in session.auth_methods`, PolicyOutcome.DENY);
    await expectFailure(passkeyLogin(), Code.PermissionDenied, "POLICY_DENIED");
    expect((await passwordLogin(member)).accessToken).not.toBe("");
  });

  it("an organization that added a user who has not accepted cannot lock them out of their sign-ins", async () => {
    const stranger = await signUp(t, "stranger");
    const attacker = await signUp(t, "attacker");
    const { organization } = await orgs.createOrganization({ name: "trap" }, attacker.h);
    await members.addMember({ organizationId: organization!.id, userId: stranger.userId, role: MemberRole.MEMBER }, attacker.h);
    await config.updateOrgPolicyConfig(
      { organizationId: organization!.id, defaultPolicyOutcome: PolicyOutcome.DENY, session: { maxAgeSeconds: 1n }, device: { requireRegistered: true } },
      attacker.h,
    );
    t.clock.advance(5);
    expect((await sessions.validateSession({}, stranger.h)).valid).toBe(true);
    expect((await auth.refresh({ refreshToken: stranger.refreshToken })).accessToken).not.toBe("");
    const again = await passwordLogin(stranger);
    expect(again.accessToken).not.toBe("");
    // Inside that organization its rules hold all the same.
    await expectFailure(orgs.getOrganization({ id: organization!.id }, bearer(again.accessToken)), Code.PermissionDenied);
    // Once accepted, they decide the user's sign-ins.
    const { member } = await members.acceptMembership({ organizationId: organization!.id }, bearer(again.accessToken));
    expect(member?.acceptTime).toBeDefined();
    await expectFailure(passwordLogin(stranger), Code.PermissionDenied, "DEVICE_REQUIRED");
  });

  it("AuthenticateLocal passes the same gate", async () => {
    const { owner, member, orgId } = await team("local");
    await policy(owner, orgId, "local off", `request.method.endsWith("/AuthenticateLocal")`, PolicyOutcome.DENY);
    await expectFailure(auth.authenticateLocal({ username: member.email, password: STRONG_PASSWORD }), Code.PermissionDenied, "POLICY_DENIED");
    expect((await passwordLogin(member)).accessToken).not.toBe("");
  });

  it("a policy created after sign-in refuses the next Refresh of a session opened before it", async () => {
    const { owner, member, orgId } = await team("refresh");
    const first = await auth.refresh({ refreshToken: member.refreshToken });
    await policy(owner, orgId, "no refresh", `request.method.endsWith("/Refresh")`, PolicyOutcome.DENY);
    await expectFailure(auth.refresh({ refreshToken: first.refreshToken }), Code.PermissionDenied, "POLICY_DENIED");
    // Refused before the token was claimed: once the policy goes, the same token still works (no reuse).
    const [mine] = (await policies.listPolicies({ organizationId: orgId }, owner.h)).policies;
    await policies.deletePolicy({ id: mine!.id }, owner.h);
    expect((await auth.refresh({ refreshToken: first.refreshToken })).accessToken).not.toBe("");
  });

  it("require-MFA: a user without a factor is refused MFA_REQUIRED; with TOTP the login asks for it and VerifyMFA completes", async () => {
    const { owner, orgId } = await team("mfa");
    const plain = await signUp(t, "mfa-plain");
    const strong = await signUpWithTotp(t, "mfa-strong");
    for (const m of [plain, strong]) await join(orgId, owner, m);
    await policy(owner, orgId, "mfa for everyone", "true", PolicyOutcome.REQUIRE_MFA, 0, "use your authenticator");

    const refused = await expectFailure(passwordLogin(plain), Code.FailedPrecondition, "MFA_REQUIRED");
    expect(refused.message).toContain("use your authenticator");
    const { challengeId } = await startChallenge(auth, strong.email);
    const done = await auth.verifyMFA({ challengeId, code: totpAt(strong.secret, t.clock) });
    expect(done.accessToken).not.toBe("");
    // Refresh keeps the session's MFA: still allowed; a password-only session of the same user is not.
    expect((await auth.refresh({ refreshToken: done.refreshToken })).accessToken).not.toBe("");
    await expectFailure(auth.refresh({ refreshToken: strong.refreshToken }), Code.FailedPrecondition, "MFA_REQUIRED");
  });

  it("tiers and priorities: an allow of higher priority beats a require-MFA, a deny beats any allow", async () => {
    const pro = await team("tier-pro", OrganizationTier.PROFESSIONAL);
    await policy(pro.owner, pro.orgId, "pro allowed", `organization.tier == "professional"`, PolicyOutcome.ALLOW, 10);
    await policy(pro.owner, pro.orgId, "mfa otherwise", "true", PolicyOutcome.REQUIRE_MFA, 1);
    expect((await passwordLogin(pro.member)).accessToken).not.toBe("");
    await policy(pro.owner, pro.orgId, "deny low priority", `user.email.startsWith("tier-pro-member")`, PolicyOutcome.DENY, -5);
    await expectFailure(passwordLogin(pro.member), Code.PermissionDenied, "POLICY_DENIED");
  });

  it("a policy that fails at run time denies and is audited as policy.error", async () => {
    const { owner, member, orgId } = await team("runtime");
    // Type-checks, but a zone that does not exist fails when it runs.
    const zone = ["Mars", "Olympus_Mons"].join("/");
    await policy(
      owner,
      orgId,
      "broken zone",
      `in_time_window(request.time, "09:00", "17:00", user.email.startsWith("x") ? "UTC" : "${zone}")`,
      PolicyOutcome.ALLOW,
    );
    await expectFailure(passwordLogin(member), Code.PermissionDenied, "POLICY_DENIED");
    const errors = await auditOf(t, "policy.error", member.userId);
    expect(errors[0]?.details).toMatchObject({ policy_name: "broken zone" });
    expect(String(errors[0]?.details.reason)).toMatch(/^runtime_error/);
  });

  it("device-bound sign-in: the session carries the device and Refresh needs a fresh proof from it", async () => {
    const { member, orgId } = await team("bound");
    const { device, key } = await registerDevice(devices, orgId, { as: member.h });
    const signedIn = await auth.login({ email: member.email, password: STRONG_PASSWORD, deviceProof: await deviceProof(devices, device.id, key, "sign_in") });
    const { session } = await sessions.getSession({ id: signedIn.sessionId }, bearer(signedIn.accessToken));
    expect(session?.deviceId).toBe(device.id);

    await expectFailure(auth.refresh({ refreshToken: signedIn.refreshToken }), Code.Unauthenticated, "DEVICE_PROOF_REQUIRED");
    // A proof of the sign-in purpose, or from another device of the same user, does not do.
    await expectFailure(
      auth.refresh({ refreshToken: signedIn.refreshToken, deviceProof: await deviceProof(devices, device.id, key, "sign_in") }),
      Code.Unauthenticated,
      "DEVICE_PROOF_INVALID",
    );
    const other = await registerDevice(devices, orgId, { as: member.h });
    await expectFailure(
      auth.refresh({ refreshToken: signedIn.refreshToken, deviceProof: await deviceProof(devices, other.device.id, other.key, "refresh") }),
      Code.Unauthenticated,
      "DEVICE_PROOF_INVALID",
    );
    const refreshed = await auth.refresh({ refreshToken: signedIn.refreshToken, deviceProof: await deviceProof(devices, device.id, key, "refresh") });
    expect(refreshed.accessToken).not.toBe("");

    // Revoking the device ends the session at once.
    const revoked = await devices.revokeDevice({ id: device.id }, member.h);
    expect(revoked.revokedSessions).toBeGreaterThanOrEqual(1);
    await expectFailure(sessions.validateSession({}, bearer(refreshed.accessToken)), Code.Unauthenticated, "SESSION_REVOKED");
  });

  it("a proof of one user's device does not sign in another user", async () => {
    const { member, owner, orgId } = await team("foreign");
    const { device, key } = await registerDevice(devices, orgId, { as: member.h });
    await expectFailure(
      auth.login({ email: owner.email, password: STRONG_PASSWORD, deviceProof: await deviceProof(devices, device.id, key, "sign_in") }),
      Code.Unauthenticated,
      "DEVICE_PROOF_INVALID",
    );
  });

  it("org device rules: registered required, then trusted required; a device-bound MFA sign-in keeps its device", async () => {
    const { owner, orgId } = await team("devrules");
    const m = await signUpWithTotp(t, "devrules-totp");
    await join(orgId, owner, m);
    const { device, key } = await registerDevice(devices, orgId, { as: m.h });
    await config.updateOrgPolicyConfig({ organizationId: orgId, device: { requireRegistered: true } }, owner.h);
    await expectFailure(passwordLogin(m), Code.PermissionDenied, "DEVICE_REQUIRED");

    const login = () =>
      deviceProof(devices, device.id, key, "sign_in").then((proof) => auth.login({ email: m.email, password: STRONG_PASSWORD, deviceProof: proof }));
    const challenged = await login();
    expect(challenged.mfaRequired).toBe(true);
    const verified = await auth.verifyMFA({ challengeId: challenged.challengeId, code: totpAt(m.secret, t.clock) });
    const { session } = await sessions.getSession({ id: verified.sessionId }, bearer(verified.accessToken));
    expect(session?.deviceId).toBe(device.id);

    await config.updateOrgPolicyConfig({ organizationId: orgId, device: { requireRegistered: true, requireTrusted: true } }, owner.h);
    await expectFailure(login(), Code.PermissionDenied, "DEVICE_NOT_TRUSTED");
    // ... and the session opened before the change cannot refresh either.
    await expectFailure(
      auth.refresh({ refreshToken: verified.refreshToken, deviceProof: await deviceProof(devices, device.id, key, "refresh") }),
      Code.PermissionDenied,
      "DEVICE_NOT_TRUSTED",
    );
    await devices.trustDevice({ id: device.id, trusted: true }, owner.h);
    t.clock.advance(30);
    expect((await login()).mfaRequired).toBe(true);
  });

  it("policies see the device: untrusted and stale posture are told apart", async () => {
    const { owner, member, orgId } = await team("posture");
    const { device, key } = await registerDevice(devices, orgId, { as: member.h });
    await policy(owner, orgId, "trusted only", "!device.trusted", PolicyOutcome.DENY, 0, "trusted devices only");
    const withDevice = async () =>
      auth.login({ email: member.email, password: STRONG_PASSWORD, deviceProof: await deviceProof(devices, device.id, key, "sign_in") });
    await expectFailure(withDevice(), Code.PermissionDenied, "POLICY_DENIED");
    await devices.trustDevice({ id: device.id, trusted: true }, owner.h);
    expect((await withDevice()).accessToken).not.toBe("");
    await policy(owner, orgId, "posture known", "!device.posture.known", PolicyOutcome.DENY, 0, "report posture first");
    const failure = await expectFailure(withDevice(), Code.PermissionDenied, "POLICY_DENIED");
    expect(failure.message).toContain("report posture first");
  });

  it("the session section: past max_concurrent_per_user the oldest session ends; a tightened max age ends old sessions at their next call", async () => {
    const { owner, member, orgId } = await team("limits");
    await config.updateOrgPolicyConfig({ organizationId: orgId, session: { maxConcurrentPerUser: 2 } }, owner.h);
    // A second apart each: "oldest" is by start time.
    const first = await passwordLogin(member);
    t.clock.advance(1);
    const second = await passwordLogin(member);
    t.clock.advance(1);
    const third = await passwordLogin(member);
    await expectFailure(sessions.validateSession({}, bearer(first.accessToken)), Code.Unauthenticated, "SESSION_REVOKED");
    expect((await sessions.validateSession({}, bearer(second.accessToken))).valid).toBe(true);
    expect((await sessions.validateSession({}, bearer(third.accessToken))).valid).toBe(true);

    t.clock.advance(120);
    await config.updateOrgPolicyConfig({ organizationId: orgId, session: { maxConcurrentPerUser: 2, maxAgeSeconds: 60n } }, owner.h);
    await expectFailure(sessions.validateSession({}, bearer(third.accessToken)), Code.Unauthenticated, "SESSION_EXPIRED");
    expect((await passwordLogin(member)).accessToken).not.toBe("");
  });

  it("lowering max_concurrent_per_user ends members' sessions past it at once, newest kept", async () => {
    const { owner, member, orgId } = await team("cap-later");
    const opened = [];
    for (let i = 0; i < 3; i++) {
      t.clock.advance(1);
      opened.push(await passwordLogin(member));
    }
    await config.updateOrgPolicyConfig({ organizationId: orgId, session: { maxConcurrentPerUser: 1 } }, owner.h);
    await expectFailure(sessions.validateSession({}, bearer(opened[0]!.accessToken)), Code.Unauthenticated, "SESSION_REVOKED");
    await expectFailure(sessions.validateSession({}, bearer(opened[1]!.accessToken)), Code.Unauthenticated, "SESSION_REVOKED");
    expect((await sessions.validateSession({}, bearer(opened[2]!.accessToken))).valid).toBe(true);
    // The owner had one session: it stays.
    expect((await sessions.validateSession({}, owner.h)).valid).toBe(true);
  });

  it("mfa.allowed_methods: a second factor the organization does not accept cannot open a session", async () => {
    const { owner, orgId } = await team("mfa-methods");
    const m = await signUpWithTotp(t, "mfa-methods-totp");
    await join(orgId, owner, m);
    await config.updateOrgPolicyConfig({ organizationId: orgId, mfa: { allowedMethods: ["phone"] } }, owner.h);
    const refused = await startChallenge(auth, m.email);
    const failure = await expectFailure(
      auth.verifyMFA({ challengeId: refused.challengeId, code: totpAt(m.secret, t.clock) }),
      Code.FailedPrecondition,
      "MFA_REQUIRED",
    );
    expect(failure.message).toContain("totp");
    t.clock.advance(30);
    await config.updateOrgPolicyConfig({ organizationId: orgId, mfa: { allowedMethods: ["totp", "phone"] } }, owner.h);
    const allowed = await startChallenge(auth, m.email);
    expect((await auth.verifyMFA({ challengeId: allowed.challengeId, code: totpAt(m.secret, t.clock) })).accessToken).not.toBe("");
  });

  it("an idle timeout tighter than the server's ends a session idle that long", async () => {
    const { owner, member, orgId } = await team("idle");
    await config.updateOrgPolicyConfig({ organizationId: orgId, session: { idleTimeoutSeconds: 300n } }, owner.h);
    const s = await passwordLogin(member);
    t.clock.advance(200);
    expect((await sessions.validateSession({}, bearer(s.accessToken))).valid).toBe(true);
    t.clock.advance(301);
    await expectFailure(sessions.validateSession({}, bearer(s.accessToken)), Code.Unauthenticated, "SESSION_IDLE_TIMEOUT");
  });

  it("calls whose policy asks for it (GetOrganization, CheckUrlAccess) are decided at every call", async () => {
    const { owner, member, orgId } = await team("calls");
    expect((await orgs.getOrganization({ id: orgId }, member.h)).organization?.id).toBe(orgId);
    await policy(
      owner,
      orgId,
      "no org reads",
      `request.method == "/warden.org.v1.OrganizationService/GetOrganization" && user.org_role == "member"`,
      PolicyOutcome.DENY,
    );
    await expectFailure(orgs.getOrganization({ id: orgId }, member.h), Code.PermissionDenied, "POLICY_DENIED");
    expect((await orgs.getOrganization({ id: orgId }, owner.h)).organization?.id).toBe(orgId);
    expect((await config.checkUrlAccess({ organizationId: orgId, url: "https://example.com/" }, member.h)).allowed).toBe(true);
  });
});
