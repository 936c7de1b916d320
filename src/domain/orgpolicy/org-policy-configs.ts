import type { Clock } from "../../clock.js";
import { auditActor } from "../audit/audit-actor.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound } from "../errors.js";
import type { Invalidation, InvalidationBus } from "../invalidation.js";
import type { OrgGrant } from "../org/org-access.js";
import type { Principal } from "../principal.js";
import type { AuditStore } from "../store/audit-store.js";
import type { OrgPolicyDocument, OrgPolicyStore } from "../store/org-policy-store.js";
import type { OrganizationStore } from "../store/organization-store.js";
import type { Ports } from "../store/transactional.js";
import type { SessionStore } from "../store/session-store.js";
import { changedSections, documentOf, normalizeChange, settingsOf, type OrgPolicyChange } from "./org-policy-document.js";
import { defaultOrgPolicySettings, type OrgPolicySettings } from "./org-policy-settings.js";

export interface OrgPolicyConfigsDeps {
  store: Ports<{
    orgPolicies: OrgPolicyStore;
    orgs: Pick<OrganizationStore, "lockOrganization" | "update">;
    sessions: Pick<SessionStore, "revokeBeyondNewestInOrganization">;
    audit: Pick<AuditStore, "append">;
  }>;
  clock: Clock;
  audit: AuditLog;
  bus: InvalidationBus;
}

const versionMismatch = (expected: number, actual: number) =>
  new DomainError("aborted", "CONFIG_VERSION_MISMATCH", `the config is at version ${actual}, not ${expected}: read it again and retry`, {
    metadata: { expected_version: String(expected), version: String(actual) },
  });

/**
 * An organization's zero-trust config. `mfa.required` is organizations.require_mfa (what
 * UpdateOrganization sets too), so both views always agree; the rest is org_policy_configs.
 */
export class OrgPolicyConfigs {
  constructor(private readonly d: OrgPolicyConfigsDeps) {}

  /** Read from the database (the cached view is OrgPolicyReader); an unknown organization has the defaults. */
  async get(organizationId: string): Promise<OrgPolicySettings> {
    const stored = await this.d.store.orgPolicies.find(organizationId);
    return stored ? settingsOf(organizationId, stored) : defaultOrgPolicySettings(organizationId);
  }

  async update(caller: Principal, grant: OrgGrant, change: OrgPolicyChange, meta: RequestMeta): Promise<OrgPolicySettings> {
    const c = normalizeChange(change);
    if (!c.mfa && !c.device && !c.session && !c.accessControl && !c.defaultPolicyOutcome) throw invalidArgument("config", "names no section to change");
    const organizationId = grant.organization.id;
    const { after, mfaChanged, endedSessions } = await this.d.store.transaction(async (tx) => {
      // Serializes config changes of this organization (and with UpdateOrganization's require_mfa).
      await tx.orgs.lockOrganization(organizationId);
      const stored = await tx.orgPolicies.find(organizationId);
      if (!stored) throw notFound("ORGANIZATION_NOT_FOUND", "organization");
      const before = settingsOf(organizationId, stored);
      if (c.expectedVersion !== undefined && c.expectedVersion !== before.version) throw versionMismatch(c.expectedVersion, before.version);
      const now = this.d.clock.now();
      const parts: Partial<OrgPolicyDocument> = {
        mfa: c.mfa && { allowedMethods: c.mfa.allowedMethods },
        device: c.device,
        session: c.session,
        accessControl: c.accessControl,
        defaultPolicyOutcome: c.defaultPolicyOutcome,
      };
      const row = await tx.orgPolicies.save(organizationId, { parts, initial: documentOf(before) }, now, c.expectedVersion);
      if (!row) throw versionMismatch(c.expectedVersion!, before.version);
      const requireMfa = c.mfa ? c.mfa.required : stored.requireMfa;
      const mfaChanged = requireMfa !== stored.requireMfa;
      if (mfaChanged) await tx.orgs.update(organizationId, { requireMfa }, now);
      const after = settingsOf(organizationId, { requireMfa, config: row });
      await this.d.audit.record(tx, {
        eventType: "org_policy.update",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "organization",
        targetId: organizationId,
        details: { sections: changedSections(before, after).join(","), version: String(after.version) },
      });
      // A concurrency limit set or tightened holds at once: members' sessions past it end now.
      const cap = after.session.maxConcurrentPerUser;
      const endedSessions = c.session && cap > 0 ? await tx.sessions.revokeBeyondNewestInOrganization(organizationId, cap, "session_limit", now) : [];
      return { after, mfaChanged, endedSessions };
    });
    const changes: Invalidation[] = [{ topic: "org_policy", id: organizationId }, ...endedSessions.map((id) => ({ topic: "session" as const, id }))];
    // OrgAccess and the other org caches read require_mfa from the organization.
    if (mfaChanged) changes.push({ topic: "org", id: organizationId });
    await this.d.bus.publish(changes);
    return after;
  }
}
