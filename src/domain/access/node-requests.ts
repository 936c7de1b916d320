import { DomainError, permissionDenied } from "../errors.js";
import type { RoleRow } from "../records.js";
import type { NodeStore } from "../store/join-store.js";

/** What the roles through which nodes are requestable say about a request for them. */
export interface NodeTerms {
  /** The most approvals any one node needs (each node: the fewest among the roles reaching it). */
  approvalsRequired: number;
  /** The smallest max_session_ttl of the roles the nodes are requestable through; undefined: none sets one. */
  ttlCapSeconds?: number;
}

/**
 * Access requests for nodes ride on the roles model: a node is requestable through the roles a
 * user may request (request_roles) whose node_labels reach it, and reviewable by those whose
 * review_roles include a role reaching it. Asking for a node is asking for a part of what one of
 * those roles would give, so the easiest such role sets its approvals and the tightest its TTL.
 */
export class NodeRequestRules {
  constructor(private readonly nodes: Pick<NodeStore, "reachedBy">) {}

  /**
   * Refuses nodes the held roles reach already (FAILED_PRECONDITION) and nodes no requestable
   * role reaches, unknown and unregistered ones alike (PERMISSION_DENIED: nothing tells an id
   * that exists from one that does not).
   */
  async termsFor(nodeIds: string[], requestable: readonly RoleRow[], held: readonly RoleRow[]): Promise<NodeTerms> {
    if (nodeIds.length === 0) return { approvalsRequired: 0 };
    const found = await this.nodes.reachedBy(
      nodeIds,
      [...held, ...requestable].map((r) => r.nodeLabels),
    );
    const byId = new Map(found.filter((n) => n.state === "registered").map((n) => [n.id, n.reached]));
    let approvalsRequired = 0;
    const caps: number[] = [];
    for (const id of nodeIds) {
      const reached = byId.get(id);
      if (reached?.slice(0, held.length).some(Boolean))
        throw new DomainError("failed_precondition", "ACCESS_REQUEST_NODE_REACHABLE", `your roles reach the node ${id} already`);
      const through = requestable.filter((_, i) => reached?.[held.length + i]);
      if (through.length === 0)
        throw permissionDenied("ACCESS_REQUEST_NODE_NOT_REQUESTABLE", `no role you may request reaches the node ${id} (or there is no such node)`);
      approvalsRequired = Math.max(approvalsRequired, Math.min(...through.map((r) => r.approvalsRequired)));
      caps.push(...through.map((r) => r.maxSessionTtlSeconds).filter((c) => c !== null));
    }
    return { approvalsRequired, ttlCapSeconds: caps.length ? Math.min(...caps) : undefined };
  }

  /** Every node is reached by at least one of the reviewer's reviewable roles (no nodes: true). */
  async reviewable(nodeIds: string[], reviewable: readonly RoleRow[]): Promise<boolean> {
    if (nodeIds.length === 0) return true;
    if (reviewable.length === 0) return false;
    const found = await this.nodes.reachedBy(
      nodeIds,
      reviewable.map((r) => r.nodeLabels),
    );
    const reached = new Map(found.map((n) => [n.id, n.reached.some(Boolean)]));
    return nodeIds.every((id) => reached.get(id) === true);
  }
}
