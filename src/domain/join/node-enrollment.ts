import { randomUUID, type KeyObject } from "node:crypto";
import type { Clock } from "../../clock.js";
import { sha256Hex } from "../../crypto/random.js";
import { sshFingerprint } from "../../crypto/ssh/ssh-key-line.js";
import { parseSshPublicKey, SshKeyError, type SshPublicKey } from "../../crypto/ssh/ssh-public-key.js";
import { generateP256KeyPair, issueX509Certificate, parsePublicKeyPem } from "../../crypto/x509/x509-issue.js";
import type { AuditLog } from "../audit/audit-log.js";
import { whereFrom } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import type { CertificateAuthorities } from "../ca/certificate-authorities.js";
import type { ClusterTlsAuthority } from "../ca/cluster-tls-authority.js";
import { issueHostCertificate } from "../ca/host-certificates.js";
import { invalidArgument, notFound, permissionDenied, unauthenticated } from "../errors.js";
import type { AgentPrincipal } from "../agent/agent-credentials.js";
import type { JoinTokenRow, NodeRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { JoinTokenStore, NodeStore } from "../store/join-store.js";
import type { Ports } from "../store/transactional.js";
import { newAgentToken } from "./join-secrets.js";
import { JoinTokens } from "./join-tokens.js";
import type { LockRegistry } from "../lock/lock-registry.js";

export interface NodeEnrollmentDeps {
  store: Ports<EnrollmentPorts>;
  tokens: JoinTokens;
  sshAuthorities: Pick<CertificateAuthorities, "signer" | "userCaAuthorizedKeys">;
  tlsAuthority: Pick<ClusterTlsAuthority, "signer" | "trustedPem">;
  clock: Clock;
  audit: AuditLog;
  clusterName: string;
  certTtlSeconds: number;
  /** Admins' locks: no join for a locked hostname, node or join-token role. */
  locks: Pick<LockRegistry, "requireUnlocked">;
}

export interface HostCertsRequest {
  token: string;
  hostPublicKey: string;
  hostname: string;
  addresses: string[];
  /** PEM SPKI; when empty the server makes the agent's TLS key pair. */
  tlsPublicKey: string;
}

export interface HostCerts {
  agentId: string;
  sshHostCertificate: string;
  tlsCertificate: string;
  tlsPrivateKey: string;
  tlsCa: string;
  userCaAuthorizedKeys: string[];
  validBefore: Date;
}

/** The ports a registration writes through (the store, or a transaction of it). */
export type EnrollmentPorts = { joinTokens: JoinTokenStore; nodes: NodeStore; audit: AuditStore };

/** What a node says of itself when it registers. */
export interface NodeDetails {
  hostname: string;
  addresses: string[];
  labels: Record<string, string>;
  version: string;
  /** SHA256:... of the host key it names, if any. */
  hostKeyFingerprint?: string;
}

export interface Registered {
  node: NodeRow;
  agentToken: string;
  clusterName: string;
}

export interface AgentRegistrationRequest {
  token: string;
  hostname: string;
  addresses: string[];
  labels: Record<string, string>;
  hostPublicKey: string;
  version: string;
}

/** Certificates start this much before now, for nodes whose clocks are a little behind. */
const BACKDATE_MS = 60_000;

/**
 * A node's way in with a join token: GenerateHostCerts binds its host key to the token (a
 * pending node whose id is the future agent id) and certifies it; RegisterAgent commits the node
 * and spends one use. Both read the token locked in their transaction, so concurrent joins on
 * one token take turns: a token with N uses binds at most N hosts and admits at most N nodes.
 */
export class NodeEnrollment {
  constructor(private readonly d: NodeEnrollmentDeps) {}

  async generateHostCerts(req: HostCertsRequest, meta: RequestMeta): Promise<HostCerts> {
    const hostKey = parseHostKey(req.hostPublicKey, "host_public_key");
    const tlsKey: { publicKey: KeyObject; privateKey?: KeyObject } = req.tlsPublicKey ? parseTlsKey(req.tlsPublicKey) : generateP256KeyPair();
    const fingerprint = sshFingerprint(hostKey.blob);
    const now = this.d.clock.now();
    const node = await this.d.store.transaction(async (tx) => {
      const token = await this.d.tokens.resolve(req.token, tx, { lock: true });
      JoinTokens.requireMethod(token, "token");
      const bound = await tx.nodes.findPending(token.id, fingerprint);
      this.d.locks.requireUnlocked({ roles: token.roles, hostname: req.hostname, nodeId: bound?.id });
      if (bound) return bound;
      const pending = await tx.nodes.pendingOf(token.id);
      if (pending.length >= token.usesRemaining) throw unauthenticated("JOIN_TOKEN_USED_UP", "every use left of this join token is bound to another host");
      const created = await tx.nodes.createPending({
        id: randomUUID(),
        state: "pending",
        joinTokenId: token.id,
        joinMethod: token.joinMethod,
        roles: token.roles,
        hostname: req.hostname,
        addresses: req.addresses,
        certifiedAddresses: req.addresses,
        hostKeyFingerprint: fingerprint,
        agentLabels: {},
        tokenLabels: token.labels,
        createdAt: now,
      });
      await this.d.audit.record(tx, this.event("node.certify", created.id, token, meta, { host_key: fingerprint, hostname: req.hostname }));
      return created;
    });
    return this.certify(node, hostKey, tlsKey, now);
  }

  /**
   * AgentService/RenewNodeCertificates: new certificates for a registered node, for the host key
   * it joined with (one that joined without a key binds this one), from the CAs that sign now.
   */
  async renewCertificates(agent: AgentPrincipal, req: { hostPublicKey: string; tlsPublicKey: string }, meta: RequestMeta): Promise<HostCerts> {
    const hostKey = parseHostKey(req.hostPublicKey, "host_public_key");
    const tlsKey: { publicKey: KeyObject; privateKey?: KeyObject } = req.tlsPublicKey ? parseTlsKey(req.tlsPublicKey) : generateP256KeyPair();
    const fingerprint = sshFingerprint(hostKey.blob);
    const now = this.d.clock.now();
    const node = await this.d.store.transaction(async (tx) => {
      const node = await tx.nodes.findRegistered(agent.agentId);
      if (!node) throw notFound("NODE_NOT_FOUND", "node");
      if (node.hostKeyFingerprint && node.hostKeyFingerprint !== fingerprint)
        throw permissionDenied("HOST_KEY_MISMATCH", "this is not the host key the node joined with");
      if (!node.hostKeyFingerprint) await tx.nodes.bindHostKey(node.id, fingerprint);
      await this.d.audit.record(tx, {
        eventType: "node.certify",
        outcome: "success",
        actorType: "agent",
        actorId: agent.agentId,
        ...whereFrom(meta),
        targetType: "node",
        targetId: node.id,
        details: { host_key: fingerprint, hostname: node.hostname, renewal: "true" },
      });
      return node;
    });
    return this.certify(node, hostKey, tlsKey, now);
  }

  /** The host certificate (host CA) and the mTLS client certificate (cluster X.509 CA) of one node. */
  private async certify(
    node: Pick<NodeRow, "id" | "hostname" | "certifiedAddresses">,
    hostKey: SshPublicKey,
    tlsKey: { publicKey: KeyObject; privateKey?: KeyObject },
    now: Date,
  ): Promise<HostCerts> {
    const validAfter = new Date(Math.floor((now.getTime() - BACKDATE_MS) / 1000) * 1000);
    const validBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 + this.d.certTtlSeconds * 1000);
    const ssh = issueHostCertificate(this.d.sshAuthorities, {
      hostKey,
      agentId: node.id,
      hostname: node.hostname,
      addresses: node.certifiedAddresses,
      clusterName: this.d.clusterName,
      validAfter,
      validBefore,
    });
    const tlsCertificate = await issueX509Certificate({
      authority: this.d.tlsAuthority.signer(),
      subjectPublicKey: tlsKey.publicKey,
      commonName: node.id,
      dnsNames: [node.hostname],
      uris: [`spiffe://${this.d.clusterName}/agent/${node.id}`],
      usage: "client",
      notBefore: validAfter,
      notAfter: validBefore,
    });
    return {
      agentId: node.id,
      sshHostCertificate: ssh.line,
      tlsCertificate,
      tlsPrivateKey: tlsKey.privateKey ? tlsKey.privateKey.export({ format: "pem", type: "pkcs8" }).toString() : "",
      tlsCa: this.d.tlsAuthority.trustedPem().join(""),
      userCaAuthorizedKeys: this.d.sshAuthorities.userCaAuthorizedKeys(),
      validBefore,
    };
  }

  async register(req: AgentRegistrationRequest, meta: RequestMeta): Promise<Registered> {
    const hostKeyFingerprint = req.hostPublicKey ? sshFingerprint(parseHostKey(req.hostPublicKey, "host_public_key").blob) : undefined;
    return this.d.store.transaction(async (tx) => {
      const token = await this.d.tokens.resolve(req.token, tx, { lock: true });
      JoinTokens.requireMethod(token, "token");
      return this.commit(tx, token, { ...req, hostKeyFingerprint }, meta);
    });
  }

  /**
   * Registers a node with a token the caller resolved and locked in `tx` (the token join, the
   * IAM join): spends one use and returns the agent token (shown once). A token that certified
   * hosts admits only them: by key when one is named, else by hostname. `auditDetails` adds to
   * the node.register event what the join method proved (the IAM join: the AWS account and ARN).
   */
  async commit(tx: EnrollmentPorts, token: JoinTokenRow, req: NodeDetails, meta: RequestMeta, auditDetails: Record<string, string> = {}): Promise<Registered> {
    const pending = await tx.nodes.pendingOf(token.id);
    const target = req.hostKeyFingerprint
      ? pending.find((p) => p.hostKeyFingerprint === req.hostKeyFingerprint)
      : pending.find((p) => p.hostname === req.hostname);
    if (pending.length > 0 && !target)
      throw permissionDenied("JOIN_TOKEN_HOST_MISMATCH", "this join token certified other hosts (GenerateHostCerts); this one is not among them");
    // Thrown before the use is spent (and rolled back with the transaction either way).
    this.d.locks.requireUnlocked({ roles: token.roles, hostname: req.hostname, nodeId: target?.id });
    if (!(await tx.joinTokens.spendUse(token.id))) throw unauthenticated("JOIN_TOKEN_USED_UP", "the join token has no use left");
    const agentToken = newAgentToken();
    const now = this.d.clock.now();
    const registration = {
      hostname: req.hostname,
      // A node that named no addresses keeps those it was certified for.
      addresses: req.addresses.length ? req.addresses : (target?.addresses ?? []),
      agentLabels: req.labels,
      version: req.version,
      agentTokenHash: sha256Hex(agentToken),
      registeredAt: now,
    };
    const node = target
      ? await tx.nodes.register(target.id, registration)
      : await tx.nodes.createRegistered({
          id: randomUUID(),
          state: "registered",
          joinTokenId: token.id,
          joinMethod: token.joinMethod,
          roles: token.roles,
          hostKeyFingerprint: req.hostKeyFingerprint ?? null,
          certifiedAddresses: req.addresses,
          tokenLabels: token.labels,
          createdAt: now,
          ...registration,
        });
    await this.d.audit.record(
      tx,
      this.event("node.register", node.id, token, meta, {
        ...auditDetails,
        hostname: req.hostname,
        join_method: token.joinMethod,
        uses_remaining: String(token.usesRemaining - 1),
      }),
    );
    return { node, agentToken, clusterName: this.d.clusterName };
  }

  private event(eventType: "node.certify" | "node.register", nodeId: string, token: JoinTokenRow, meta: RequestMeta, details: Record<string, string>) {
    return {
      eventType,
      outcome: "success" as const,
      // The join token is the actor: no user or agent exists yet.
      actorType: "join_token",
      actorId: token.id,
      ...whereFrom(meta),
      targetType: "node",
      targetId: nodeId,
      details,
    };
  }
}

function parseHostKey(line: string, field: string): SshPublicKey {
  try {
    return parseSshPublicKey(line);
  } catch (err) {
    if (err instanceof SshKeyError) throw invalidArgument(field, err.message);
    throw err;
  }
}

function parseTlsKey(pem: string): { publicKey: KeyObject } {
  try {
    return { publicKey: parsePublicKeyPem(pem) };
  } catch (err) {
    throw invalidArgument("tls_public_key", (err as Error).message);
  }
}
