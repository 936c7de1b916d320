import type { Clock } from "../../clock.js";
import { auditActor } from "../audit/audit-actor.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { notFound } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import { decodePageToken, encodePageToken, pageSize } from "../pagination.js";
import { hasSystemAccess, type Principal } from "../principal.js";
import type { NodeRow } from "../records.js";
import type { RoleCatalog } from "../rbac/role-catalog.js";
import type { AuditStore } from "../store/audit-store.js";
import type { NodeStore } from "../store/join-store.js";
import type { Ports } from "../store/transactional.js";
import type { AccessGrants } from "../access/access-grants.js";
import type { AgentPrincipal } from "./agent-credentials.js";
import type { Heartbeats } from "./heartbeats.js";
import { effectiveLabels, parseLabelSelector } from "./label-selector.js";

export interface NodeView {
  node: NodeRow;
  labels: Record<string, string>;
  online: boolean;
}

export interface NodeDirectoryDeps {
  store: Ports<{ nodes: NodeStore; audit: AuditStore }>;
  roles: Pick<RoleCatalog, "find">;
  heartbeats: Heartbeats;
  bus: InvalidationBus;
  clock: Clock;
  audit: AuditLog;
  offlineAfterSeconds: number;
  /** Approved access requests for nodes: those nodes are the requester's to reach until the grant ends. */
  grants: Pick<AccessGrants, "nodesOf">;
}

/** The registered nodes: listing (filtered by the caller's roles), admin labels, and agents leaving. */
export class NodeDirectory {
  constructor(private readonly d: NodeDirectoryDeps) {}

  view(node: NodeRow): NodeView {
    return { node, labels: effectiveLabels(node), online: !!node.lastHeartbeatAt && node.lastHeartbeatAt > this.onlineSince() };
  }

  /**
   * Nodes matching the selector and online filter. Callers whose roles allow node/list see every
   * node; anyone else only those matching a role's node_labels (none: no node) and those a live
   * access request grants them.
   */
  async list(
    caller: Principal,
    q: { labelSelector: string; online?: boolean; pageSize: number; pageToken: string },
  ): Promise<{ items: NodeView[]; nextPageToken: string }> {
    const selector = parseLabelSelector(q.labelSelector);
    const size = pageSize(q.pageSize);
    const after = decodePageToken<{ h: string; id: string }>(q.pageToken, ["h", "id"]);
    const rows = await this.d.store.nodes.list({
      selector,
      online: q.online,
      onlineSince: this.onlineSince(),
      reachable: await this.reachable(caller),
      // Judged at this call by the clock: an expired or cancelled grant is gone from it.
      reachableIds: caller.kind === "user" ? this.d.grants.nodesOf(caller.userId) : [],
      limit: size + 1,
      after: after ? { hostname: after.h, id: after.id } : undefined,
    });
    const items = rows.slice(0, size);
    const last = items[items.length - 1];
    return { items: items.map((n) => this.view(n)), nextPageToken: rows.length > size && last ? encodePageToken({ h: last.hostname, id: last.id }) : "" };
  }

  async updateLabels(caller: Principal, nodeId: string, labels: Record<string, string>, meta: RequestMeta): Promise<NodeView> {
    const node = await this.d.store.transaction(async (tx) => {
      const updated = await tx.nodes.setAdminLabels(nodeId, labels);
      if (!updated) throw notFound("NODE_NOT_FOUND", "node");
      await this.d.audit.record(tx, {
        eventType: "node.update",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "node",
        targetId: nodeId,
        details: { labels: JSON.stringify(labels).slice(0, 1024) },
      });
      return updated;
    });
    return this.view(node);
  }

  async deregister(agent: AgentPrincipal, meta: RequestMeta): Promise<void> {
    await this.d.store.transaction(async (tx) => {
      if (!(await tx.nodes.deregister(agent.agentId, this.d.clock.now()))) throw notFound("NODE_NOT_FOUND", "node");
      await this.d.audit.record(tx, {
        eventType: "node.deregister",
        outcome: "success",
        actorType: "agent",
        actorId: agent.agentId,
        clientIp: meta.clientIp,
        requestId: meta.requestId,
        targetType: "node",
        targetId: agent.agentId,
      });
    });
    this.d.heartbeats.forget(agent.agentId);
    await this.d.bus.publish([{ topic: "agent", id: agent.agentId }]);
  }

  private onlineSince(): Date {
    return new Date(this.d.clock.now().getTime() - this.d.offlineAfterSeconds * 1000);
  }

  /** Undefined (every node) for callers whose roles allow node/list; otherwise their roles' node_labels. */
  private async reachable(caller: Principal): Promise<Record<string, string[]>[] | undefined> {
    if (hasSystemAccess(caller)) return undefined;
    if (caller.kind !== "user") return [];
    const roles = await Promise.all(caller.roles.map((name) => this.d.roles.find(name)));
    return roles.filter((r) => r !== undefined).map((r) => r.nodeLabels);
  }
}
