import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { AgentService, NodeSchema, type Node } from "../../gen/warden/agent/v1/agent_service_pb.js";
import type { Heartbeats } from "../domain/agent/heartbeats.js";
import type { NodeEnrollment } from "../domain/join/node-enrollment.js";
import type { NodeDirectory, NodeView } from "../domain/agent/node-directory.js";
import type { Clock } from "../clock.js";
import { agentOf, metaOf, principalOf } from "./call-context.js";
import type { LockRegistry } from "../domain/lock/lock-registry.js";
import { lockToProto } from "./lock.js";
import type { SshSessions } from "../domain/agent/ssh-sessions.js";

/** The node half of AgentService (agent identities have their own file). */
export type NodeMethods = Pick<ServiceImpl<typeof AgentService>, "agentHeartbeat" | "deregisterAgent" | "listNodes" | "updateNode" | "renewNodeCertificates">;

export function agentHandlers(
  directory: NodeDirectory,
  enrollment: Pick<NodeEnrollment, "renewCertificates">,
  heartbeats: Heartbeats,
  clock: Clock,
  /** node_heartbeat_interval now (UpdateClusterConfig may change it). */
  heartbeatIntervalSeconds: () => number,
  locks: Pick<LockRegistry, "sessionLocks">,
  ssh: Pick<SshSessions, "report">,
): NodeMethods {
  return {
    async agentHeartbeat(req, ctx) {
      const agent = agentOf(ctx);
      // Empty fields leave what the node reported before.
      heartbeats.record({
        id: agent.agentId,
        labels: Object.keys(req.labels).length ? req.labels : undefined,
        version: req.version || undefined,
        addresses: req.addresses.length ? req.addresses : undefined,
      });
      // A report unchanged since this instance last wrote it, with nothing to end, costs no statement.
      const terminateSshSessions = await ssh.report(
        agent.agentId,
        req.sshSessions.map((s) => ({
          sessionId: s.id,
          user: s.user,
          login: s.login,
          startedAt: timestampDate(s.startedAt!),
          remoteAddress: s.remoteAddress,
        })),
      );
      // The user, role and login locks in force: the agent ends the SSH sessions they cover.
      return {
        heartbeatInterval: durationFromMs(heartbeatIntervalSeconds() * 1000),
        serverTime: timestampFromDate(clock.now()),
        locks: locks.sessionLocks().map(lockToProto),
        terminateSshSessions,
      };
    },
    async deregisterAgent(_req, ctx) {
      await directory.deregister(agentOf(ctx), metaOf(ctx));
      return {};
    },
    async listNodes(req, ctx) {
      const page = await directory.list(principalOf(ctx), {
        labelSelector: req.labelSelector,
        online: req.online,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { nodes: page.items.map(nodeToProto), nextPageToken: page.nextPageToken };
    },
    async renewNodeCertificates(req, ctx) {
      const {
        agentId: _same,
        validBefore,
        ...certs
      } = await enrollment.renewCertificates(agentOf(ctx), { hostPublicKey: req.hostPublicKey, tlsPublicKey: req.tlsPublicKey }, metaOf(ctx));
      return { ...certs, validBefore: timestampFromDate(validBefore) };
    },
    async updateNode(req, ctx) {
      return { node: nodeToProto(await directory.updateLabels(principalOf(ctx), req.nodeId, req.labels, metaOf(ctx))) };
    },
  };
}

export function nodeToProto({ node: n, labels, online }: NodeView): Node {
  return create(NodeSchema, {
    id: n.id,
    hostname: n.hostname,
    addresses: n.addresses,
    labels,
    version: n.version,
    online,
    lastHeartbeatTime: n.lastHeartbeatAt ? timestampFromDate(n.lastHeartbeatAt) : undefined,
    registerTime: n.registeredAt ? timestampFromDate(n.registeredAt) : undefined,
    roles: n.roles,
    joinMethod: n.joinMethod,
    hostKeyFingerprint: n.hostKeyFingerprint ?? "",
  });
}
