import type { X509Certificate } from "node:crypto";
import { sha256Hex, constantTimeEqual } from "../../crypto/random.js";
import type { BoundedCache } from "../cache/bounded-cache.js";
import { unauthenticated } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import type { NodeStore } from "../store/join-store.js";
import type { ClusterTlsAuthority } from "../ca/cluster-tls-authority.js";
import { isAgentTokenFormat } from "../join/join-secrets.js";
import type { LockRegistry } from "../lock/lock-registry.js";

/** A registered agent, as its credential proved it. */
export interface AgentPrincipal {
  agentId: string;
  hostname: string;
  roles: string[];
}

interface KnownAgent extends AgentPrincipal {
  tokenHash: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface AgentCredentialsDeps {
  /** Proves agents by their mTLS client certificate (issued by GenerateHostCerts). */
  tlsAuthority: Pick<ClusterTlsAuthority, "agentIdOf">;
  store: { nodes: Pick<NodeStore, "findRegistered"> };
  /** Registered agents by id; a deregistration drops the entry on every instance (topic "agent"). */
  cache: BoundedCache<string, KnownAgent>;
  bus: InvalidationBus;
  limiter: Pick<BruteForce, "checkNetwork" | "networkFailed">;
  /** Admins' locks: a locked node (by id or hostname) is refused at every agent call. */
  locks: Pick<LockRegistry, "requireUnlocked">;
}

/**
 * Checks `x-agent-id` and the agent's credential: its agent token (the bearer), or else the mTLS
 * client certificate GenerateHostCerts issued it. Either must belong to that very agent, so one
 * node's credential never acts as another node, and the node must still be registered. Wrong
 * credentials spend the address's agent-token failure budget; a budget spent refuses before any lookup.
 * A proven agent whose node an admin locked is refused (LOCKED).
 */
export class AgentCredentials {
  constructor(private readonly d: AgentCredentialsDeps) {
    d.bus.on("agent", (id) => d.cache.delete(id));
  }

  async authenticate(agentId: string | null, token: string | undefined, clientIp: string, peerCertificate?: X509Certificate): Promise<AgentPrincipal> {
    if (!agentId || (!token && !peerCertificate))
      throw unauthenticated("AGENT_CREDENTIAL_INVALID", "agent calls need x-agent-id and the agent token as the bearer (or the agent's client certificate)");
    await this.d.limiter.checkNetwork("agent_token", clientIp);
    const id = agentId.toLowerCase();
    const agent = UUID.test(id) ? await this.find(id) : undefined;
    // A bearer, when sent, is the credential, whatever certificate the connection has.
    const proven = token
      ? !!agent && isAgentTokenFormat(token) && constantTimeEqual(agent.tokenHash, sha256Hex(token))
      : !!agent && this.d.tlsAuthority.agentIdOf(peerCertificate!) === id;
    if (!agent || !proven) {
      await this.d.limiter.networkFailed("agent_token", clientIp);
      throw unauthenticated("AGENT_CREDENTIAL_INVALID", "x-agent-id and the agent token do not name one registered agent");
    }
    this.d.locks.requireUnlocked({ nodeId: agent.agentId, hostname: agent.hostname });
    return { agentId: agent.agentId, hostname: agent.hostname, roles: agent.roles };
  }

  private find(agentId: string): Promise<KnownAgent | undefined> {
    return this.d.cache.getOrLoad(agentId, async () => {
      const row = await this.d.store.nodes.findRegistered(agentId);
      return row?.agentTokenHash ? { agentId: row.id, hostname: row.hostname, roles: row.roles, tokenHash: row.agentTokenHash } : undefined;
    });
  }
}
