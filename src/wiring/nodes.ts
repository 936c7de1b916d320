import { AgentCredentials } from "../domain/agent/agent-credentials.js";
import { Heartbeats } from "../domain/agent/heartbeats.js";
import { NodeDirectory } from "../domain/agent/node-directory.js";
import { JoinTokens } from "../domain/join/join-tokens.js";
import { NodeEnrollment } from "../domain/join/node-enrollment.js";
import { agentHandlers } from "../handlers/agent.js";
import { joinHandlers } from "../handlers/join.js";
import { iamJoinHandlers } from "../handlers/iam-join.js";
import { agentIdentityHandlers } from "../handlers/agent-identities.js";
import { spiffeHandlers } from "../handlers/spiffe.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { RbacArea } from "./rbac.js";
import type { SshCaArea } from "./ssh-ca.js";

export interface NodesArea {
  agentCredentials: AgentCredentials;
  heartbeats: Heartbeats;
  handlers: Pick<ServiceHandlers, "join" | "agent">;
  stop(): Promise<void>;
}

/** Heartbeats reach the database once a second (at most this far behind; offline takes node_offline_after). */
const HEARTBEAT_FLUSH_MS = 1000;

/** Node join (join tokens, host certificates, registration) and the agents that joined. */
export function wireNodes(core: Core, deps: { sshCa: SshCaArea; rbac: RbacArea }): NodesArea {
  const { config, store, clock, audit, bus, caches, limiter, log } = core;
  const tokens = new JoinTokens({ store, clock, audit, defaultTtlSeconds: config.join_token_default_ttl, maxTtlSeconds: config.join_token_max_ttl });
  const enrollment = new NodeEnrollment({
    store,
    tokens,
    sshAuthorities: deps.sshCa.authorities,
    tlsAuthority: deps.sshCa.tlsAuthority,
    clock,
    audit,
    clusterName: config.cluster_name,
    certTtlSeconds: config.agent_cert_ttl,
  });
  const heartbeats = new Heartbeats({ store, clock, flushMs: HEARTBEAT_FLUSH_MS, log });
  heartbeats.start();
  const agentCredentials = new AgentCredentials({ store, cache: caches.create("agents"), bus, limiter });
  const directory = new NodeDirectory({
    store,
    roles: deps.rbac.catalog,
    heartbeats,
    bus,
    clock,
    audit,
    offlineAfterSeconds: config.node_offline_after,
  });
  const identities = agentIdentityHandlers();
  return {
    agentCredentials,
    heartbeats,
    handlers: {
      join: {
        ...joinHandlers(tokens, enrollment, config.cluster_name, clock),
        ...iamJoinHandlers(),
        ...identities.join,
        ...spiffeHandlers(),
      },
      agent: { ...agentHandlers(directory, heartbeats, clock, config.node_heartbeat_interval), ...identities.admin },
    },
    stop: () => heartbeats.stop(),
  };
}
