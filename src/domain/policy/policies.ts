import type { Clock } from "../../clock.js";
import type { AuditLog } from "../audit/audit-log.js";
import { auditActor } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import type { OrgAccess, OrgGrant } from "../org/org-access.js";
import { decodePageToken, pageOf, pageSize } from "../pagination.js";
import { hasSystemAccess, type Principal } from "../principal.js";
import type { AccessPolicyRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { PolicyFields, PolicyStore } from "../store/policy-store.js";
import type { Ports } from "../store/transactional.js";
import type { CelCompiler } from "./cel-compiler.js";
import { checkedDraft, MAX_POLICIES_PER_ORGANIZATION, type PolicyDraft } from "./policy-rules.js";

export interface PoliciesDeps {
  store: Ports<{ policies: PolicyStore; audit: Pick<AuditStore, "append"> }>;
  orgAccess: Pick<OrgAccess, "require" | "effectiveRole">;
  compiler: Pick<CelCompiler, "compile">;
  clock: Clock;
  audit: AuditLog;
  bus: InvalidationBus;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const auditDetails = (row: AccessPolicyRow): Record<string, string> => ({
  organization_id: row.organizationId,
  name: row.name.slice(0, 100),
  language: row.language,
  outcome: row.outcome,
  priority: String(row.priority),
  enabled: String(row.enabled),
});

/**
 * An organization's access policies: written by its admins (compiled when saved), listed by
 * priority. Every change is audited in its transaction and, once committed, drops the
 * organization's compiled policies on every instance.
 */
export class Policies {
  constructor(private readonly d: PoliciesDeps) {}

  async create(caller: Principal, organizationId: string, draft: PolicyDraft, meta: RequestMeta): Promise<AccessPolicyRow> {
    await this.d.orgAccess.require(caller, organizationId, "admin");
    const fields = checkedDraft(draft, this.d.compiler);
    const row = await this.d.store.transaction(async (tx) => {
      if ((await tx.policies.count(organizationId)) >= MAX_POLICIES_PER_ORGANIZATION)
        throw new DomainError("failed_precondition", "FAILED_PRECONDITION", `an organization has at most ${MAX_POLICIES_PER_ORGANIZATION} policies`);
      const created = await tx.policies.create({ ...fields, organizationId }, this.d.clock.now());
      if (!created) throw exists(fields.name);
      await this.record(tx, "policy.create", caller, created, meta);
      return created;
    });
    await this.changed(organizationId);
    return row;
  }

  /** Replaces a policy; `organizationId` must be the policy's own (another organization's policy is not found). */
  async update(caller: Principal, id: string, organizationId: string, draft: PolicyDraft, meta: RequestMeta): Promise<AccessPolicyRow> {
    const current = await this.manageable(caller, id);
    if (current.organizationId !== organizationId) throw notFound("POLICY_NOT_FOUND", "policy");
    const fields: PolicyFields = checkedDraft(draft, this.d.compiler);
    const row = await this.d.store.transaction(async (tx) => {
      const updated = await tx.policies.update(id, fields, this.d.clock.now());
      if (updated === "name_taken") throw exists(fields.name);
      if (!updated) throw notFound("POLICY_NOT_FOUND", "policy");
      await this.record(tx, "policy.update", caller, updated, meta);
      return updated;
    });
    await this.changed(row.organizationId);
    return row;
  }

  async delete(caller: Principal, id: string, meta: RequestMeta): Promise<void> {
    const current = await this.manageable(caller, id);
    await this.d.store.transaction(async (tx) => {
      const deleted = await tx.policies.delete(current.id);
      if (!deleted) throw notFound("POLICY_NOT_FOUND", "policy");
      await this.record(tx, "policy.delete", caller, deleted, meta);
    });
    await this.changed(current.organizationId);
  }

  /** Priority (highest first), then id; the grant is the org admin's the policy interceptor established. */
  async list(grant: OrgGrant, req: { pageSize: number; pageToken: string }): Promise<{ items: AccessPolicyRow[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const cursor = decodePageToken<{ p: number; id: string }>(req.pageToken, ["p", "id"]);
    if (cursor && (!Number.isSafeInteger(cursor.p) || !UUID.test(cursor.id))) throw invalidArgument("page_token", "is not a token this server issued");
    const rows = await this.d.store.policies.list(grant.organization.id, size + 1, cursor && { priority: cursor.p, id: cursor.id });
    return pageOf(rows, size, (last) => ({ p: last.priority, id: last.id }));
  }

  /**
   * The policy, if the caller administers its organization. Whoever is not even a member hears
   * POLICY_NOT_FOUND, exactly as for an id that names nothing, so ids of other tenants cannot
   * be probed; a member below admin hears that the role is too low.
   */
  private async manageable(caller: Principal, id: string): Promise<AccessPolicyRow> {
    const row = UUID.test(id) ? await this.d.store.policies.findById(id) : undefined;
    if (!row) throw notFound("POLICY_NOT_FOUND", "policy");
    if (!hasSystemAccess(caller) && !(await this.d.orgAccess.effectiveRole(caller, row.organizationId))) throw notFound("POLICY_NOT_FOUND", "policy");
    await this.d.orgAccess.require(caller, row.organizationId, "admin");
    return row;
  }

  private record(
    tx: { audit: Pick<AuditStore, "append"> },
    eventType: "policy.create" | "policy.update" | "policy.delete",
    caller: Principal,
    row: AccessPolicyRow,
    meta: RequestMeta,
  ) {
    return this.d.audit.record(tx, {
      eventType,
      outcome: "success",
      ...auditActor(caller, meta),
      targetType: "policy",
      targetId: row.id,
      details: auditDetails(row),
    });
  }

  private changed(organizationId: string): Promise<void> {
    return this.d.bus.publish([{ topic: "policy", id: organizationId }]);
  }
}

function exists(name: string): DomainError {
  return new DomainError("already_exists", "POLICY_EXISTS", `the organization has a policy named "${name.slice(0, 100)}"`);
}
