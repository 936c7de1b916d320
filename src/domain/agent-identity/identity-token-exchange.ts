import type { Clock } from "../../clock.js";
import { sha256Hex } from "../../crypto/random.js";
import type { AuditLog } from "../audit/audit-log.js";
import { whereFrom } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, permissionDenied, unauthenticated } from "../errors.js";
import { isBootstrapTokenFormat, isRenewalTokenFormat, newRenewalToken } from "../join/join-secrets.js";
import type { AgentIdentityRow, AgentIdentityTokenRow } from "../records.js";
import type { AgentIdentityStore } from "../store/agent-identity-store.js";
import type { AuditStore } from "../store/audit-store.js";
import type { RoleStore } from "../store/role-store.js";
import type { Ports } from "../store/transactional.js";
import { parseCredentialKeys, type IdentityCredentialIssuer, type IssuedCredentials } from "./identity-credentials.js";

type ExchangePorts = { agentIdentities: AgentIdentityStore; roles: Pick<RoleStore, "find">; audit: AuditStore };

export interface IdentityTokenExchangeDeps {
  store: Ports<ExchangePorts>;
  credentials: Pick<IdentityCredentialIssuer, "issue">;
  clock: Clock;
  audit: AuditLog;
}

export interface ExchangeRequest {
  token: string;
  /** Optional OpenSSH public key line to certify. */
  sshPublicKey: string;
  /** Optional PEM SPKI; when empty the server makes the key pair. */
  tlsPublicKey: string;
}

export interface IdentityCredentials extends IssuedCredentials {
  identityId: string;
  /** The next renewal token (shown once). */
  renewalToken: string;
  generation: number;
}

type TokenKind = "bootstrap" | "renewal";
type Outcome = { ok: IdentityCredentials } | { error: DomainError };

const invalid = () => unauthenticated("AGENT_IDENTITY_TOKEN_INVALID", "unknown or expired agent identity token");

/**
 * Bootstrap and renewal: a token is traded for credentials and the next renewal token, in one
 * transaction with the identity row locked, so exchanges of one identity take turns (of two
 * concurrent renewals with one token, exactly one succeeds).
 *
 * Every token is single use. A used one presented again (or one of an older generation) means
 * two parties hold it: the identity is locked for good (an admin makes a new one), and since a
 * thrown error would roll the lock back, the transaction returns the refusal and it is thrown
 * after the commit.
 *
 * A renewal token stays good for one certificate lifetime after the certificates it came with
 * expire: a bot that was down for less than that renews without an admin; one down longer
 * needs a new identity.
 */
export class IdentityTokenExchange {
  constructor(private readonly d: IdentityTokenExchangeDeps) {}

  bootstrap(req: ExchangeRequest, meta: RequestMeta): Promise<IdentityCredentials> {
    if (!isBootstrapTokenFormat(req.token)) throw invalid();
    return this.exchange("bootstrap", req, meta);
  }

  renew(req: ExchangeRequest, meta: RequestMeta): Promise<IdentityCredentials> {
    if (!isRenewalTokenFormat(req.token)) throw invalid();
    return this.exchange("renewal", req, meta);
  }

  private async exchange(kind: TokenKind, req: ExchangeRequest, meta: RequestMeta): Promise<IdentityCredentials> {
    const keys = parseCredentialKeys(req.sshPublicKey, req.tlsPublicKey);
    const hash = sha256Hex(req.token);
    const outcome = await this.d.store.transaction(async (tx): Promise<Outcome> => {
      const found = await tx.agentIdentities.findToken(hash);
      if (!found || found.kind !== kind) return { error: invalid() };
      const identity = await tx.agentIdentities.lockById(found.identityId);
      // Read again under the identity's lock: a concurrent exchange may have used it meanwhile.
      const token = identity && (await tx.agentIdentities.findToken(hash));
      if (!identity || !token) return { error: invalid() };
      if (identity.lockedAt) return { error: locked() };
      const now = this.d.clock.now();
      const stale = token.usedAt !== null || (kind === "renewal" && token.generation !== identity.generation);
      if (stale) return this.lock(tx, identity, token, meta, now);
      if (token.expiresAt.getTime() <= now.getTime()) return { error: invalid() };
      if (!(await tx.agentIdentities.useToken(hash, now))) return this.lock(tx, identity, token, meta, now);

      const generation = kind === "bootstrap" ? 0 : identity.generation + 1;
      // Roles read in the transaction (the roles as they are now); a refusal here (no SSH login
      // left) rolls the token's use back, so the bot can try again once its roles are fixed.
      const roles = (await Promise.all(identity.roles.map((name) => tx.roles.find(name)))).filter((r) => r !== undefined);
      const issued = await this.d.credentials.issue(identity, roles, keys, now);
      const renewalToken = newRenewalToken();
      await tx.agentIdentities.addToken({
        tokenHash: sha256Hex(renewalToken),
        identityId: identity.id,
        kind: "renewal",
        generation,
        expiresAt: new Date(issued.validBefore.getTime() + issued.ttlSeconds * 1000),
        usedAt: null,
        createdAt: now,
      });
      await tx.agentIdentities.update(identity.id, kind === "bootstrap" ? { bootstrappedAt: now, generation } : { lastRenewedAt: now, generation });
      await this.d.audit.record(tx, {
        eventType: kind === "bootstrap" ? "agent_identity.bootstrap" : "agent_identity.renew",
        outcome: "success",
        ...identityActor(identity, meta),
        details: {
          generation: String(generation),
          valid_before: issued.validBefore.toISOString(),
          ...(issued.sshSerial !== undefined ? { ssh_serial: issued.sshSerial.toString(), principals: issued.principals.join(",") } : {}),
        },
      });
      return { ok: { ...issued, identityId: identity.id, renewalToken, generation } };
    });
    if ("error" in outcome) throw outcome.error;
    return outcome.ok;
  }

  /** Locks the identity (committed with the refusal the caller gets). */
  private async lock(tx: ExchangePorts, identity: AgentIdentityRow, token: AgentIdentityTokenRow, meta: RequestMeta, now: Date): Promise<Outcome> {
    const reason =
      token.kind === "bootstrap"
        ? "the bootstrap token was presented again"
        : `a renewal token of generation ${token.generation} was presented again (current generation ${identity.generation})`;
    await tx.agentIdentities.update(identity.id, { lockedAt: now, lockReason: reason });
    await this.d.audit.record(tx, {
      eventType: "agent_identity.lock",
      outcome: "failure",
      ...identityActor(identity, meta),
      details: { token_kind: token.kind, token_generation: String(token.generation), generation: String(identity.generation) },
    });
    return {
      error: unauthenticated("AGENT_IDENTITY_TOKEN_REUSED", "this token was used before: the agent identity is now locked"),
    };
  }
}

function locked(): DomainError {
  return permissionDenied("AGENT_IDENTITY_LOCKED", "the agent identity is locked (a token was reused); an admin must make a new one");
}

/** The identity acts on itself: its token is its credential. */
function identityActor(identity: AgentIdentityRow, meta: RequestMeta) {
  return { actorType: "agent_identity", actorId: identity.id, targetType: "agent_identity", targetId: identity.id, ...whereFrom(meta) };
}
