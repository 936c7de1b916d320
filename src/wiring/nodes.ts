import { AgentCredentials } from "../domain/agent/agent-credentials.js";
import { Heartbeats } from "../domain/agent/heartbeats.js";
import { NodeDirectory } from "../domain/agent/node-directory.js";
import type { SshSessions } from "../domain/agent/ssh-sessions.js";
import { JoinTokens } from "../domain/join/join-tokens.js";
import { NodeEnrollment } from "../domain/join/node-enrollment.js";
import { IAM_CHALLENGE_TTL_SECONDS, IamJoin } from "../domain/join/iam-join.js";
import { StsClient } from "../domain/join/sts-client.js";
import { toConnectError } from "../interceptors/errors.js";
import { agentHandlers } from "../handlers/agent.js";
import { joinHandlers } from "../handlers/join.js";
import { iamJoinHandlers } from "../handlers/iam-join.js";
import { spiffeHandlers } from "../handlers/spiffe.js";
import type { ServiceHandlers } from "../routes.js";
import { wireAgentIdentities } from "./agent-identities.js";
import type { Core } from "./core.js";
import type { RbacArea } from "./rbac.js";
import type { SshCaArea } from "./ssh-ca.js";
import { wireSpiffe } from "./spiffe.js";

export interface NodesArea {
  agentCredentials: AgentCredentials;
  heartbeats: Heartbeats;
  handlers: Pick<ServiceHandlers, "join" | "agent">;
  stop(): Promise<void>;
}

/**
 * Agents stay cached this long: a deregistration (and later a lock) drops the entry on every
 * instance at once, so the age bound only limits memory, and agents beat every 30 seconds or so.
 */
const AGENT_CACHE_SECONDS = 600;

/** Heartbeats reach the database once a second (at most this far behind; offline takes node_offline_after). */
const HEARTBEAT_FLUSH_MS = 1000;

/** Node join (join tokens, host certificates, registration) and the agents that joined. */
export function wireNodes(core: Core, deps: { sshCa: SshCaArea; rbac: RbacArea; ssh: SshSessions }): NodesArea {
  const { config, store, clock, audit, bus, caches, limiter, log } = core;
  // First: a bad SPIFFE setting stops the start before anything here runs (heartbeats' timer).
  const spiffe = wireSpiffe(core, deps);
  const tokens = new JoinTokens({ store, clock, audit, defaultTtlSeconds: config.join_token_default_ttl, maxTtlSeconds: config.join_token_max_ttl });
  const enrollment = new NodeEnrollment({
    store,
    tokens,
    sshAuthorities: deps.sshCa.authorities,
    tlsAuthority: deps.sshCa.tlsAuthority,
    clock,
    audit,
    clusterName: config.cluster_name,
    // Getters: UpdateClusterConfig changes these at run time, on every instance.
    get certTtlSeconds() {
      return core.cluster.settings().agentCertTtl;
    },
    locks: core.locks,
  });
  const sts = new StsClient({ endpoint: config.sts_endpoint, timeoutMs: config.sts_timeout_ms });
  const iamJoin = new IamJoin({ store, tokens, enrollment, sts, stsHost: sts.host, clock });
  const heartbeats = new Heartbeats({ store, clock, flushMs: HEARTBEAT_FLUSH_MS, log });
  heartbeats.start();
  const agentCredentials = new AgentCredentials({
    store,
    cache: caches.create("agents", { ttlSeconds: AGENT_CACHE_SECONDS }),
    bus,
    limiter,
    tlsAuthority: deps.sshCa.tlsAuthority,
    locks: core.locks,
  });
  const directory = new NodeDirectory({
    store,
    roles: deps.rbac.catalog,
    heartbeats,
    bus,
    clock,
    audit,
    get offlineAfterSeconds() {
      return core.cluster.settings().nodeOfflineAfter;
    },
    grants: core.grants,
  });
  const identities = wireAgentIdentities(core, deps);
  return {
    agentCredentials,
    heartbeats,
    handlers: {
      join: {
        ...joinHandlers(tokens, enrollment, config.cluster_name, clock),
        ...iamJoinHandlers(iamJoin, {
          conversationTimeoutMs: IAM_CHALLENGE_TTL_SECONDS * 1000,
          toWireError: (err, requestId) => toConnectError(err, log, requestId),
        }),
        ...identities.join,
        ...spiffeHandlers(spiffe),
      },
      agent: {
        ...agentHandlers(directory, enrollment, heartbeats, clock, () => core.cluster.settings().nodeHeartbeatInterval, core.locks, deps.ssh),
        ...identities.admin,
      },
    },
    stop: () => heartbeats.stop(),
  };
}
