import type { Clock } from "../../clock.js";
import { auditActor } from "../audit/audit-actor.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound, permissionDenied } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import type { Principal, UserPrincipal } from "../principal.js";
import type { RoleCatalog } from "../rbac/role-catalog.js";
import type { AccessRequestRow, AccessReviewEntry, RoleRow } from "../records.js";
import type { AccessRequestState, AccessRequestStore } from "../store/access-request-store.js";
import type { AuditStore } from "../store/audit-store.js";
import type { Ports } from "../store/transactional.js";
import type { UserStore } from "../store/user-store.js";
import type { NodeStore } from "../store/join-store.js";
import type { AccessGrants } from "./access-grants.js";
import { NodeRequestRules } from "./node-requests.js";

export interface NewAccessRequest {
  roles: string[];
  /** Nodes (their ids) besides or instead of roles. */
  nodeIds: string[];
  reason: string;
  /** Undefined: the cap. */
  ttlSeconds?: number;
}

export interface AccessRequestsDeps {
  store: Ports<{ accessRequests: AccessRequestStore; audit: AuditStore }> & { users: Pick<UserStore, "findById">; nodes: Pick<NodeStore, "reachedBy"> };
  roles: Pick<RoleCatalog, "find">;
  clock: Clock;
  audit: AuditLog;
  bus: InvalidationBus;
  grants: Pick<AccessGrants, "reload">;
}

/** A pending request lapses after this long. */
export const PENDING_TTL_SECONDS = 24 * 3600;
/** Pending requests a user may have at once (each one asks reviewers for attention). */
export const MAX_PENDING_PER_USER = 10;
/** Granted access lasts at most this long when no requested role has a max_session_ttl. */
export const DEFAULT_ACCESS_TTL_SECONDS = 12 * 3600;

const LIST = { resource: "access_request", verb: "list" } as const;

/** The state at `now`: a pending request past its pending expiry, or an approved one past its access expiry, is expired. */
export function stateAt(row: AccessRequestRow, now: Date): AccessRequestState {
  const t = now.getTime();
  if (row.state === "pending" && row.pendingExpiresAt.getTime() <= t) return "expired";
  if (row.state === "approved" && (!row.accessExpiresAt || row.accessExpiresAt.getTime() <= t)) return "expired";
  return row.state as AccessRequestState;
}

/**
 * AccessRequestService. Who may request and review is read from the caller's own roles (those
 * assigned to the user, not roles an approved request grants, so a grant never chains into
 * more). A review locks the request's row for its transaction, so concurrent reviews are
 * decided one after another and a request has one outcome. Approval and cancellation are
 * announced on the bus ("access_request") and this instance reloads its grants before answering.
 */
export class AccessRequests {
  private readonly nodes: NodeRequestRules;

  constructor(private readonly d: AccessRequestsDeps) {
    this.nodes = new NodeRequestRules(d.store.nodes);
  }

  async create(caller: Principal, req: NewAccessRequest, meta: RequestMeta): Promise<AccessRequestRow> {
    const user = requireUser(caller);
    if (req.ttlSeconds !== undefined && !(Number.isInteger(req.ttlSeconds) && req.ttlSeconds > 0))
      throw invalidArgument("requested_ttl", "must be whole seconds, more than zero");
    if (req.roles.length === 0 && req.nodeIds.length === 0) throw invalidArgument("roles", "name at least one role or node");
    const own = await this.ownRoles(user);
    const requestable = new Set(own.flatMap((r) => r.requestRoles));
    const requested = await this.rolesNamed(req.roles);
    for (const role of requested) {
      if (user.roles.includes(role.name)) throw new DomainError("failed_precondition", "ACCESS_REQUEST_ROLE_HELD", `you hold the role "${role.name}" already`);
      if (!requestable.has(role.name))
        throw permissionDenied("ACCESS_REQUEST_ROLE_NOT_REQUESTABLE", `none of your roles lets you request the role "${role.name}"`);
    }
    // Nodes: through the roles the caller may request; those the caller's roles (granted ones too) reach already are refused.
    const nodeTerms = await this.nodes.termsFor(req.nodeIds, await this.rolesOf([...requestable]), await this.rolesOf(user.roles));
    const now = this.d.clock.now();
    const row = await this.d.store.transaction(async (tx) => {
      if ((await tx.accessRequests.countPending(user.userId, now)) >= MAX_PENDING_PER_USER)
        throw new DomainError("resource_exhausted", "ACCESS_REQUEST_LIMIT", `at most ${MAX_PENDING_PER_USER} access requests may be pending at once`);
      const created = await tx.accessRequests.create({
        userId: user.userId,
        roles: requested.map((r) => r.name),
        nodeIds: [...new Set(req.nodeIds)],
        reason: req.reason,
        requestedTtlSeconds: req.ttlSeconds ?? null,
        state: "pending",
        approvalsRequired: Math.max(1, nodeTerms.approvalsRequired, ...requested.map((r) => r.approvalsRequired)),
        reviews: [],
        createdAt: now,
        updatedAt: now,
        pendingExpiresAt: new Date(now.getTime() + PENDING_TTL_SECONDS * 1000),
        accessExpiresAt: null,
      });
      await this.d.audit.record(tx, {
        eventType: "access_request.create",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "access_request",
        targetId: created.id,
        details: {
          roles: created.roles.join(","),
          ...(created.nodeIds.length ? { node_ids: created.nodeIds.join(",") } : {}),
          reason: req.reason,
          ...(req.ttlSeconds ? { requested_ttl_seconds: String(req.ttlSeconds) } : {}),
        },
      });
      return created;
    });
    return row;
  }

  async get(caller: Principal, id: string): Promise<AccessRequestRow> {
    const user = requireUser(caller);
    const row = await this.d.store.accessRequests.find(id);
    if (!row || !(row.userId === user.userId || user.permissions.allows(LIST) || (await this.mayReview(user, row))))
      throw notFound("ACCESS_REQUEST_NOT_FOUND", "access request");
    return row;
  }

  async list(
    caller: Principal,
    req: { pageSize: number; pageToken: string; state?: AccessRequestState },
  ): Promise<{ items: AccessRequestRow[]; nextPageToken: string }> {
    const user = requireUser(caller);
    const size = pageSize(req.pageSize);
    const all = user.permissions.allows(LIST);
    const reviewable = all ? [] : await this.reviewableRoles(user);
    const scope = { all, userId: user.userId, reviewable: reviewable.map((r) => r.name), reviewableNodeLabels: reviewable.map((r) => r.nodeLabels) };
    const rows = await this.d.store.accessRequests.list(size + 1, scope, this.d.clock.now(), decodeCreatedCursor(req.pageToken), req.state);
    return pageOf(rows, size, createdCursorOf);
  }

  async review(caller: Principal, id: string, decision: "approve" | "deny", reason: string, meta: RequestMeta): Promise<AccessRequestRow> {
    const user = requireUser(caller);
    let approved = false;
    try {
      // Roles and requester never change: the grant's length is worked out before the row is locked.
      const seen = await this.d.store.accessRequests.find(id);
      if (!seen) throw notFound("ACCESS_REQUEST_NOT_FOUND", "access request");
      // Checked before the lock too: roles and nodes never change, and node labels are read outside it.
      const reviewable = seen.userId !== user.userId && (await this.mayReview(user, seen));
      const ttlSeconds = decision === "approve" ? await this.grantTtl(seen) : 0;
      const row = await this.d.store.transaction(async (tx) => {
        const row = await tx.accessRequests.findForUpdate(id);
        if (!row) throw notFound("ACCESS_REQUEST_NOT_FOUND", "access request");
        if (row.userId === user.userId) throw permissionDenied("ACCESS_REQUEST_SELF_REVIEW", "you cannot review your own access request");
        if (!reviewable)
          throw permissionDenied("ACCESS_REQUEST_REVIEW_NOT_ALLOWED", "your roles do not let you review requests for every role and node of this request");
        const now = this.d.clock.now();
        if (stateAt(row, now) !== "pending")
          throw new DomainError("failed_precondition", "ACCESS_REQUEST_NOT_PENDING", `the request is ${stateAt(row, now)}: it takes no more reviews`);
        if (row.reviews.some((r) => r.reviewerId === user.userId))
          throw new DomainError("failed_precondition", "ACCESS_REQUEST_ALREADY_REVIEWED", "you reviewed this request already");
        const reviews: AccessReviewEntry[] = [...row.reviews, { reviewerId: user.userId, decision, reason, at: now.toISOString() }];
        const approvals = reviews.filter((r) => r.decision === "approve").length;
        const state = decision === "deny" ? "denied" : approvals >= row.approvalsRequired ? "approved" : "pending";
        const accessExpiresAt = state === "approved" ? new Date(now.getTime() + ttlSeconds * 1000) : null;
        const updated = await tx.accessRequests.update(row.id, { reviews, state, accessExpiresAt, updatedAt: now });
        await this.d.audit.record(tx, {
          eventType: "access_request.review",
          outcome: "success",
          ...auditActor(caller, meta),
          targetType: "access_request",
          targetId: row.id,
          details: {
            decision,
            reason,
            state,
            requester_id: row.userId,
            roles: row.roles.join(","),
            ...(row.nodeIds.length ? { node_ids: row.nodeIds.join(",") } : {}),
            ...(accessExpiresAt ? { access_expires_at: accessExpiresAt.toISOString() } : {}),
          },
        });
        approved = state === "approved";
        return updated;
      });
      if (approved) await this.announce(row.id);
      return row;
    } catch (err) {
      // A refused review is part of the trail too (who tried to review what, and why not).
      if (err instanceof DomainError && err.reason !== "ACCESS_REQUEST_NOT_FOUND")
        await this.d.audit.recordAlone({
          eventType: "access_request.review",
          outcome: "failure",
          ...auditActor(caller, meta),
          targetType: "access_request",
          targetId: id,
          details: { decision, reason: err.reason },
        });
      throw err;
    }
  }

  async cancel(caller: Principal, id: string, meta: RequestMeta): Promise<AccessRequestRow> {
    const user = requireUser(caller);
    const row = await this.d.store.transaction(async (tx) => {
      const row = await tx.accessRequests.findForUpdate(id);
      // Only one's own: another user's request is not there for the caller.
      if (!row || row.userId !== user.userId) throw notFound("ACCESS_REQUEST_NOT_FOUND", "access request");
      const now = this.d.clock.now();
      const state = stateAt(row, now);
      if (state !== "pending" && state !== "approved")
        throw new DomainError(
          "failed_precondition",
          "ACCESS_REQUEST_NOT_CANCELLABLE",
          `the request is ${state}: only pending or approved requests can be cancelled`,
        );
      const updated = await tx.accessRequests.update(row.id, { state: "cancelled", updatedAt: now });
      await this.d.audit.record(tx, {
        eventType: "access_request.cancel",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "access_request",
        targetId: row.id,
        details: { previous_state: state, roles: row.roles.join(","), ...(row.nodeIds.length ? { node_ids: row.nodeIds.join(",") } : {}) },
      });
      return updated;
    });
    await this.announce(row.id);
    return row;
  }

  /** Every instance reloads its grants; this one before the call returns. */
  private async announce(id: string): Promise<void> {
    await this.d.bus.publish([{ topic: "access_request", id }]);
    await this.d.grants.reload();
  }

  /** The roles assigned to the caller (never those a grant adds). */
  private async ownRoles(user: UserPrincipal): Promise<RoleRow[]> {
    const row = await this.d.store.users.findById(user.userId);
    if (!row || row.deletedAt) throw permissionDenied("USER_SESSION_REQUIRED", "no such user");
    return (await Promise.all(row.roles.map((n) => this.d.roles.find(n)))).filter((r) => r !== undefined);
  }

  /** The roles the caller's own roles let them review requests for. */
  private async reviewableRoles(user: UserPrincipal): Promise<RoleRow[]> {
    return this.rolesOf([...new Set((await this.ownRoles(user)).flatMap((r) => r.reviewRoles))]);
  }

  /** Every role of the request is reviewable by the caller, and every node is reached by a reviewable role. */
  private async mayReview(user: UserPrincipal, row: AccessRequestRow): Promise<boolean> {
    const reviewable = await this.reviewableRoles(user);
    const names = new Set(reviewable.map((r) => r.name));
    if (!row.roles.every((r) => names.has(r))) return false;
    return this.nodes.reviewable(row.nodeIds, reviewable);
  }

  /** The roles of these names that exist. */
  private async rolesOf(names: readonly string[]): Promise<RoleRow[]> {
    return (await Promise.all(names.map((n) => this.d.roles.find(n)))).filter((r) => r !== undefined);
  }

  private async rolesNamed(names: string[]): Promise<RoleRow[]> {
    const rows = await Promise.all([...new Set(names)].map((n) => this.d.roles.find(n)));
    const missing = names.find((_, i) => !rows[i]);
    if (missing !== undefined) throw invalidArgument("roles", `no role named "${missing}"`, "ROLE_UNKNOWN");
    return rows as RoleRow[];
  }

  /**
   * The requested TTL, capped by the smallest max_session_ttl of the roles as they are now and
   * of the roles the nodes are requestable through now (none: 12 hours). A node the requester
   * may no longer request is refused here.
   */
  private async grantTtl(row: AccessRequestRow): Promise<number> {
    const caps = (await Promise.all(row.roles.map((n) => this.d.roles.find(n)))).map((r) => r?.maxSessionTtlSeconds).filter((c) => typeof c === "number");
    if (row.nodeIds.length > 0) {
      const requester = await this.d.store.users.findById(row.userId);
      const own = await this.rolesOf(requester && !requester.deletedAt ? requester.roles : []);
      const terms = await this.nodes.termsFor(row.nodeIds, await this.rolesOf([...new Set(own.flatMap((r) => r.requestRoles))]), []);
      if (terms.ttlCapSeconds !== undefined) caps.push(terms.ttlCapSeconds);
    }
    const cap = caps.length > 0 ? Math.min(...caps) : DEFAULT_ACCESS_TTL_SECONDS;
    return Math.min(row.requestedTtlSeconds ?? cap, cap);
  }
}

function requireUser(caller: Principal): UserPrincipal {
  if (caller.kind !== "user") throw permissionDenied("USER_SESSION_REQUIRED", "access requests are made and reviewed by signed-in users");
  return caller;
}
