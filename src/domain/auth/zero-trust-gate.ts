import type { Clock } from "../../clock.js";
import type { AuditLog } from "../audit/audit-log.js";
import { DomainError } from "../errors.js";
import type { OrgPolicyReader, OrgPolicySettings } from "../orgpolicy/org-policy-settings.js";
import type { PolicyDecision, PolicyEvaluator } from "../policy/policy-decision.js";
import { buildPolicyInput } from "../policy/policy-input.js";
import type { DeviceRow, OrganizationRow, UserRow } from "../records.js";
import type { OrganizationStore } from "../store/organization-store.js";
import type { RequestMeta } from "./request-meta.js";

/** Organizations looked at per decision; a user in more is decided on the first this many (oldest first). */
const MAX_ORGANIZATIONS = 100;

export interface GateSubject {
  user: UserRow;
  /** Where the decision is taken: a sign-in (any method), a refresh, or a call whose policy asks for it. */
  phase: "sign_in" | "refresh" | "call";
  /** The device the session is (or will be) bound to, when a proof was given. */
  device?: DeviceRow;
  session: { authMethods: string[]; mfaAt?: Date; createdAt?: Date };
  request: RequestMeta & { method: string };
  /** Only this organization's rules (an organization-scoped call); otherwise every organization of the user. */
  organizationId?: string;
  /** A second factor is about to be asked for (an MFA challenge follows): require-MFA is satisfied later. */
  mfaPending?: boolean;
}

export interface GateDeps {
  store: { orgs: Pick<OrganizationStore, "list"> };
  /** Cached organizations and memberships (OrgDirectory) for calls that name one organization. */
  directory: Pick<OrganizationStore, "findById" | "membership">;
  /** Whether a user has a confirmed second factor (cached, dropped on the bus topic `user`). */
  mfaEnrolled(userId: string): Promise<boolean>;
  clock: Clock;
  settings: OrgPolicyReader;
  policies: PolicyEvaluator;
  audit: AuditLog;
  postureMaxAgeSeconds: number;
}

/**
 * The zero-trust decision taken at every sign-in, every refresh and on calls whose policy asks
 * for it: for each organization of the user (or the one the call names), its device rules and
 * then its access policies. Any organization that denies denies; one that requires a second
 * factor makes the session need one. Fails closed: a fault reading settings or policies is an
 * error, never an allow.
 */
export class ZeroTrustGate {
  constructor(private readonly d: GateDeps) {}

  /** Throws PERMISSION_DENIED (POLICY_DENIED, DEVICE_REQUIRED, DEVICE_NOT_TRUSTED) or MFA_REQUIRED. */
  async check(subject: GateSubject): Promise<void> {
    const orgs = await this.organizationsOf(subject);
    if (orgs.length === 0) return;
    const mfaEnrolled = await this.d.mfaEnrolled(subject.user.id);
    let mfaRequiredBy: { org: OrganizationRow; decision: PolicyDecision } | undefined;
    for (const { org, role } of orgs) {
      const settings = await this.d.settings.settings(org.id);
      await this.checkDevice(subject, org, settings);
      await this.checkSecondFactor(subject, org, settings);
      const input = buildPolicyInput({
        user: subject.user,
        roles: subject.user.roles,
        orgRole: role,
        mfaEnrolled,
        organization: org,
        device: subject.device && subject.device.organizationId === org.id ? subject.device : undefined,
        postureMaxAgeSeconds: this.d.postureMaxAgeSeconds,
        session: subject.session,
        request: { ip: subject.request.clientIp, time: this.d.clock.now(), userAgent: subject.request.userAgent, method: subject.request.method },
        now: this.d.clock.now(),
      });
      const decision = await this.d.policies.evaluate(org.id, input, settings.defaultPolicyOutcome);
      if (decision.outcome === "deny") {
        await this.refused(subject, org, decision);
        throw new DomainError("permission_denied", "POLICY_DENIED", deniedMessage(decision), {
          metadata: { policy_id: decision.policyId, policy_name: decision.policyName, organization_id: org.id },
        });
      }
      if (decision.outcome === "require_mfa" && !subject.session.mfaAt && !mfaRequiredBy) mfaRequiredBy = { org, decision };
    }
    if (mfaRequiredBy && !subject.mfaPending) {
      await this.refused(subject, mfaRequiredBy.org, mfaRequiredBy.decision);
      throw new DomainError(
        "failed_precondition",
        "MFA_REQUIRED",
        `${mfaRequiredBy.decision.message || "a second factor is required"} (policy "${mfaRequiredBy.decision.policyName || "default"}")`,
        { metadata: { policy_id: mfaRequiredBy.decision.policyId, policy_name: mfaRequiredBy.decision.policyName, organization_id: mfaRequiredBy.org.id } },
      );
    }
  }

  private async organizationsOf(subject: GateSubject): Promise<{ org: OrganizationRow; role: string }[]> {
    if (subject.organizationId) {
      const [org, membership] = await Promise.all([
        this.d.directory.findById(subject.organizationId),
        this.d.directory.membership(subject.organizationId, subject.user.id),
      ]);
      // A system admin acting on an organization they do not belong to is decided by its policies too.
      return org && !org.suspended ? [{ org, role: membership?.role ?? "" }] : [];
    }
    // Only memberships the user accepted: an admin adding a stranger gains no say over their sign-ins.
    const orgs = await this.d.store.orgs.list(MAX_ORGANIZATIONS, subject.user.id);
    return orgs.filter((o) => !o.suspended && o.callerAcceptedAt).map((o) => ({ org: o, role: o.callerRole ?? "" }));
  }

  /** The organization's device section: a registered (and maybe trusted) device of this organization. */
  private async checkDevice(subject: GateSubject, org: OrganizationRow, settings: OrgPolicySettings): Promise<void> {
    const { requireRegistered, requireTrusted } = settings.device;
    if (!requireRegistered && !requireTrusted) return;
    const device = subject.device;
    const own = device && device.organizationId === org.id && device.userId === subject.user.id && !device.revokedAt;
    const refusal: PolicyDecision = { outcome: "deny", policyId: "", policyName: "org_policy.device", message: "", reason: "" };
    if (!own) {
      await this.refused(subject, org, { ...refusal, reason: "device_required" });
      throw new DomainError(
        "permission_denied",
        "DEVICE_REQUIRED",
        `the organization requires sign-in from a device registered in it: send a device_proof (organization ${org.id})`,
        { metadata: { organization_id: org.id } },
      );
    }
    if (requireTrusted && !device.trusted) {
      await this.refused(subject, org, { ...refusal, reason: "device_not_trusted" });
      throw new DomainError("permission_denied", "DEVICE_NOT_TRUSTED", "the organization requires a trusted device; an org admin must trust this one", {
        metadata: { organization_id: org.id, device_id: device.id },
      });
    }
  }

  /** The organization's mfa.allowed_methods: a sign-in's second factor must be one of them. */
  private async checkSecondFactor(subject: GateSubject, org: OrganizationRow, settings: OrgPolicySettings): Promise<void> {
    const allowed = settings.mfa.allowedMethods;
    const used = secondFactorOf(subject.session.authMethods);
    if (subject.phase !== "sign_in" || !subject.session.mfaAt || allowed.length === 0 || !used || allowed.includes(used)) return;
    await this.refused(subject, org, {
      outcome: "require_mfa",
      policyId: "",
      policyName: "org_policy.mfa",
      message: "",
      reason: `second_factor_not_allowed: ${used}`,
    });
    throw new DomainError(
      "failed_precondition",
      "MFA_REQUIRED",
      `the organization does not accept ${used} as a second factor; use one of: ${allowed.join(", ")}`,
      {
        metadata: { organization_id: org.id, allowed_methods: allowed.join(",") },
      },
    );
  }

  /** A refusal is audited; a policy that failed at run time is audited as such too. */
  private async refused(subject: GateSubject, org: OrganizationRow, decision: PolicyDecision): Promise<void> {
    const details = {
      phase: subject.phase,
      method: subject.request.method.slice(0, 128),
      organization_id: org.id,
      outcome: decision.outcome,
      policy_id: decision.policyId,
      policy_name: decision.policyName.slice(0, 100),
      reason: decision.reason.slice(0, 200),
      ...(subject.device ? { device_id: subject.device.id } : {}),
    };
    const failed = decision.reason.startsWith("runtime_error") || decision.reason.startsWith("opa_");
    const base = {
      outcome: "failure" as const,
      actorType: "user",
      actorId: subject.user.id,
      targetType: "organization",
      targetId: org.id,
      details,
      clientIp: subject.request.clientIp,
      requestId: subject.request.requestId,
    };
    await this.d.audit.recordAlone({ ...base, eventType: failed ? "policy.error" : "policy.deny" });
  }
}

/** The second factor a sign-in used, by the names of mfa.allowed_methods (RFC 8176 amr values in, ours out). */
function secondFactorOf(amr: string[]): string | undefined {
  if (amr.includes("hwk")) return "passkey";
  if (amr.includes("otp")) return "totp";
  if (amr.includes("sms")) return "phone";
  if (amr.includes("rec")) return "recovery_code";
  return undefined;
}

function deniedMessage(d: PolicyDecision): string {
  const by = d.policyName ? `policy "${d.policyName}"` : "the organization's default";
  return d.message ? `denied by ${by}: ${d.message}` : `denied by ${by}`;
}
