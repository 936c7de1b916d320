import type { Clock } from "../../clock.js";
import type { AuditLog } from "../audit/audit-log.js";
import { whereFrom } from "../audit/audit-actor.js";
import type { AuditEventType } from "../audit/audit-events.js";
import type { UserRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { IdentityStore } from "../store/federation-store.js";
import type { Ports } from "../store/transactional.js";
import type { UserStore } from "../store/user-store.js";
import type { RequestMeta } from "../auth/request-meta.js";
import type { SignIn, SignInResult } from "../auth/sign-in.js";
import { DomainError, unauthenticated } from "../errors.js";
import type { UserPrincipal } from "../principal.js";
import type { Connectors } from "./connectors.js";
import type { IdTokenVerifier, VerifiedIdToken } from "./id-token-verifier.js";
import type { Invalidation, InvalidationBus } from "../invalidation.js";
import { claimUnverifiedAccount, type ClaimPorts } from "./claim.js";

type FederationPorts = {
  users: Pick<UserStore, "findById" | "findByEmail" | "create" | "update">;
  identities: IdentityStore;
  audit: Pick<AuditStore, "append">;
} & ClaimPorts;

export interface FederatedSignInDeps {
  store: Ports<FederationPorts>;
  clock: Clock;
  bus: InvalidationBus;
  connectors: Connectors;
  verifier: IdTokenVerifier;
  audit: AuditLog;
  signIn: SignIn;
}

/** What the audit log learns about a federated call as it goes, for the failure record. */
interface Trail {
  userId?: string;
  connector?: string;
  issuer?: string;
  subject?: string;
}

type Resolved = { user: UserRow; created: boolean; via: "identity" | "email" | "created" | "claimed"; stale: Invalidation[] };

/** Another transaction linked or created the same account at the same time: roll back, run again. */
class RaceLost extends Error {}
const ATTEMPTS = 3;

/** Sign-in (and sign-up) with an OIDC ID token, and linking more identities to an account. */
export class FederatedSignIn {
  constructor(private readonly d: FederatedSignInDeps) {}

  /**
   * The user is found by linked identity, else by verified email (and linked), else created
   * without a password (and linked); then the same session or MFA challenge as password login.
   * An account with that email whose owner never proved the address is claimed, not linked:
   * the provider's verified email is the stronger proof, so whatever credentials the account
   * was given before are removed (see ./claim.ts), then it is linked.
   */
  async signIn(idToken: string, connectorId: string, meta: RequestMeta): Promise<{ result: SignInResult; created: boolean }> {
    return this.audited("auth.oauth_login", meta, {}, async (trail) => {
      const identity = await this.verify(idToken, connectorId, trail);
      const { user, created, stale } = await this.resolve(identity, trail, meta);
      await this.d.bus.publish(stale);
      const result = await this.d.signIn.start(user, "oidc", meta, { amr: ["fed"], mfaSatisfied: false });
      return { result, created };
    });
  }

  /** Links the identity to the caller; ALREADY_EXISTS when it belongs to someone else. */
  async link(caller: UserPrincipal, idToken: string, connectorId: string, meta: RequestMeta): Promise<VerifiedIdToken> {
    return this.audited("auth.link_identity", meta, { userId: caller.userId }, async (trail) => {
      const identity = await this.verify(idToken, connectorId, trail);
      await this.d.store.transaction(async (tx) => {
        const owner = await this.linkedUser(tx, identity);
        if (owner && owner.id !== caller.userId)
          throw new DomainError("already_exists", "IDENTITY_LINKED_ELSEWHERE", "this identity is linked to another account");
        if (!owner && !(await tx.identities.link({ ...identityKey(identity), userId: caller.userId, email: identity.email }, this.d.clock.now())))
          throw new DomainError("already_exists", "IDENTITY_LINKED_ELSEWHERE", "this identity was just linked to an account");
        await this.d.audit.record(tx, this.success("auth.link_identity", caller.userId, trail, meta, { already_linked: String(!!owner) }));
      });
      return identity;
    });
  }

  private async verify(idToken: string, connectorId: string, trail: Trail): Promise<VerifiedIdToken> {
    const provider = await this.d.connectors.resolve(connectorId);
    trail.connector = provider.id;
    const identity = await this.d.verifier.verify(idToken, provider);
    Object.assign(trail, identityKey(identity));
    return identity;
  }

  private async resolve(identity: VerifiedIdToken, trail: Trail, meta: RequestMeta): Promise<Resolved> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.d.store.transaction((tx) => this.resolveIn(tx, identity, trail, meta));
      } catch (err) {
        if (!(err instanceof RaceLost)) throw err;
        if (attempt >= ATTEMPTS) throw new DomainError("unavailable", "OAUTH_SIGN_IN_CONFLICT", "a concurrent sign-in changed this account; try again");
      }
    }
  }

  private async resolveIn(tx: FederationPorts, identity: VerifiedIdToken, trail: Trail, meta: RequestMeta): Promise<Resolved> {
    const now = this.d.clock.now();
    const linked = await this.linkedUser(tx, identity);
    let r: Resolved;
    if (linked) r = { user: linked, created: false, via: "identity", stale: [] };
    else {
      const existing = await tx.users.findByEmail(identity.email);
      // The provider verified the address: an account it creates starts verified.
      const user = existing ?? (await tx.users.create({ email: identity.email, displayName: identity.name, passwordHash: null, emailVerifiedAt: now }, now));
      if (!user) throw new RaceLost();
      r = { user, created: !existing, via: existing ? "email" : "created", stale: [] };
    }
    trail.userId = r.user.id;
    // A disabled account gets no token, and no new link either (the transaction rolls back).
    if (r.user.disabled) throw unauthenticated("USER_DISABLED", "this account is disabled");
    if (r.via === "email" && !r.user.emailVerifiedAt) {
      const claimed = await claimUnverifiedAccount(tx, r.user, now);
      await this.d.audit.record(tx, this.success("auth.account_claimed", r.user.id, trail, meta, claimed.removed));
      r = { ...r, user: claimed.user, via: "claimed", stale: claimed.stale };
    }
    if (r.via !== "identity" && !(await tx.identities.link({ ...identityKey(identity), userId: r.user.id, email: identity.email }, now))) throw new RaceLost();
    if (r.created) await this.d.audit.record(tx, this.success("auth.register", r.user.id, trail, meta, { method: "oidc" }));
    await this.d.audit.record(tx, this.success("auth.oauth_login", r.user.id, trail, meta, { via: r.via, created: String(r.created) }));
    return r;
  }

  /** The live user an identity is linked to; a link left behind by a deleted account is dropped. */
  private async linkedUser(tx: FederationPorts, identity: VerifiedIdToken): Promise<UserRow | undefined> {
    const link = await tx.identities.find(identity.issuer, identity.subject);
    if (!link) return undefined;
    const user = await tx.users.findById(link.userId);
    if (!user) await tx.identities.unlink(identity.issuer, identity.subject);
    else if (link.email !== identity.email) await tx.identities.touchEmail(identity.issuer, identity.subject, identity.email);
    return user;
  }

  private success(eventType: AuditEventType, userId: string, trail: Trail, meta: RequestMeta, details: Record<string, string>) {
    return {
      eventType,
      outcome: "success" as const,
      actorType: "user",
      actorId: userId,
      targetType: "user",
      targetId: userId,
      details: { ...trailDetails(trail), ...details },
      ...whereFrom(meta),
    };
  }

  /** Refusals are audited with what was learnt before them; the token itself never is. */
  private async audited<T>(eventType: AuditEventType, meta: RequestMeta, trail: Trail, run: (trail: Trail) => Promise<T>): Promise<T> {
    try {
      return await run(trail);
    } catch (err) {
      if (err instanceof DomainError) {
        const userId = trail.userId ?? "";
        await this.d.audit.recordAlone({
          eventType,
          outcome: "failure",
          actorType: "user",
          actorId: userId,
          targetType: "user",
          targetId: userId,
          details: { reason: err.reason, ...trailDetails(trail) },
          ...whereFrom(meta),
        });
      }
      throw err;
    }
  }
}

function identityKey(identity: VerifiedIdToken): { issuer: string; subject: string } {
  return { issuer: identity.issuer, subject: identity.subject };
}

function trailDetails(trail: Trail): Record<string, string> {
  const details: Record<string, string> = {};
  if (trail.connector) details.connector = trail.connector;
  if (trail.issuer) details.issuer = trail.issuer;
  if (trail.subject) details.subject = trail.subject;
  return details;
}
