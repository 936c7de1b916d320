import { createHmac, randomBytes } from "node:crypto";
import { isIP } from "node:net";
import type { Clock } from "../../clock.js";
import { sha256Hex } from "../../crypto/random.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { LockRegistry } from "../lock/lock-registry.js";
import type { AuthService } from "../auth/auth-service.js";
import { normalizeEmail } from "../auth/email.js";
import { BoundedCache } from "../cache/bounded-cache.js";
import { DomainError } from "../errors.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import type { UserRow } from "../records.js";
import type { MfaStore } from "../store/mfa-store.js";
import type { OrganizationStore } from "../store/organization-store.js";
import type { UserStore } from "../store/user-store.js";
import { LOGIN_ALIAS } from "../user/user-admin.js";
import type { StatusKind } from "./status-messages.js";

/** Who asks: the configured Basic caller (every account) or a service account (its organization's members). */
export type BackchannelCaller = { kind: "basic" } | { kind: "service_account"; id: string; organizationId: string };

/** What the mail server passed about the client; it is trusted to pass the real client address. */
export interface MailClient {
  clientIp: string;
  protocol: string;
  userAgent: string;
  /** The backchannel call's own request id (logged and audited with the decision). */
  requestId: string;
}

export type MailDecision =
  | { decision: "ok"; user: UserRow; attributes: Record<string, string[]>; hasTotp: boolean }
  | { decision: "fail"; status: StatusKind }
  | { decision: "tempfail"; status: StatusKind; error: string };

export interface MailAuthDeps {
  passwords: Pick<AuthService, "checkPassword">;
  limiter: Pick<BruteForce, "takeNetwork" | "networkSucceeded" | "accountRefund">;
  store: {
    users: Pick<UserStore, "list" | "findByLoginAlias">;
    orgs: Pick<OrganizationStore, "list" | "listMembers" | "membership">;
    mfa: Pick<MfaStore, "confirmedFactors">;
  };
  audit: Pick<AuditLog, "recordAlone">;
  /** Admins' locks: a locked user (or one of their roles) gets no mail session either. */
  locks: Pick<LockRegistry, "requireUnlocked">;
  clock: Clock;
  /** How long a failed (account, client, protocol, password) is remembered, so that repeating it counts once. */
  repeatWindowSeconds: number;
}

/** An installation or an organization lists at most this many accounts per page read. */
const LIST_PAGE = 500;
/** Organizations a user is checked against for a second-factor requirement (more is no real user). */
const MAX_ORGANIZATIONS = 200;

/**
 * "May this user log in with this password from this client?" for mail servers, on Warden's
 * users and its one brute-force engine. Faults never answer OK: they are TEMPFAIL, which a mail
 * server turns into "try again" instead of "wrong password".
 */
export class MailAuth {
  /** A process-local key: the remembered failures are keyed hashes, useless outside this process. */
  private readonly repeatKey = randomBytes(32);
  private readonly failedBefore: BoundedCache<string, Set<string>>;

  constructor(private readonly d: MailAuthDeps) {
    this.failedBefore = new BoundedCache(d.clock, { maxEntries: 50_000, ttlSeconds: d.repeatWindowSeconds });
  }

  /**
   * `caller` limits whose passwords may be checked: a service account only its organization's
   * members (otherwise any organization could test anyone's password). `abandoned` aborts when
   * the caller was already answered TEMPFAIL: a check that finishes later leaves no trace.
   */
  async authenticate(
    username: string,
    password: string,
    client: MailClient,
    opts: { caller: BackchannelCaller; abandoned?: AbortSignal },
  ): Promise<MailDecision> {
    if (!username || !password || isIP(client.clientIp) === 0) return { decision: "fail", status: "invalid_credentials" };
    let account: string;
    try {
      account = await this.accountOf(username);
    } catch (err) {
      if (err instanceof DomainError && err.kind === "invalid_argument") return { decision: "fail", status: "invalid_credentials" };
      return tempfail(err);
    }
    // A misconfigured mail client repeats the same wrong password every few seconds: that is one
    // failure, not hundreds. Answered at once, with no point taken and nothing hashed.
    const attempt = this.attemptKey(client, password);
    if (this.failedBefore.get(account)?.has(attempt)) return { decision: "fail", status: "invalid_credentials" };

    const meta = { clientIp: client.clientIp, userAgent: client.userAgent, requestId: client.requestId };
    let user: UserRow & { hasMfa: boolean };
    try {
      await this.d.limiter.takeNetwork("password", client.clientIp);
      try {
        user = await this.d.passwords.checkPassword(account, password, "auth.backchannel", meta);
      } catch (err) {
        // Only a wrong password keeps the network point; a fault proved nothing.
        if (!isRefusal(err)) await this.d.limiter.networkSucceeded("password", client.clientIp).catch(() => {});
        throw err;
      }
      await this.d.limiter.networkSucceeded("password", client.clientIp);
    } catch (err) {
      if (isRefusal(err) && err.reason === "RATE_LIMITED") return { decision: "fail", status: "too_many_attempts" };
      if (isRefusal(err)) {
        if (opts.abandoned?.aborted) {
          // The mail server was told to retry: this failure must not count toward a lockout.
          await Promise.all([this.d.limiter.accountRefund(account, client.clientIp), this.d.limiter.networkSucceeded("password", client.clientIp)]).catch(
            () => {},
          );
          return abandonedDecision();
        }
        this.remember(account, attempt);
        return { decision: "fail", status: "invalid_credentials" };
      }
      return tempfail(err);
    }
    this.failedBefore.delete(account);
    if (opts.abandoned?.aborted) return abandonedDecision();
    try {
      // The same answer as a wrong password: a service account learns nothing of outsiders.
      if (opts.caller.kind === "service_account" && !(await this.d.store.orgs.membership(opts.caller.organizationId, user.id))) {
        await this.auditDecision(user, client, "failure", { reason: "outside_caller_organization", organization_id: opts.caller.organizationId });
        return { decision: "fail", status: "invalid_credentials" };
      }
      return await this.decideFor(user, client);
    } catch (err) {
      return tempfail(err);
    }
  }

  /** The accounts (emails) the caller may see: every active user, or its organization's members. */
  async listAccounts(caller: BackchannelCaller, maxBytes: number, meta: MailClient): Promise<string[]> {
    const accounts: string[] = [];
    let bytes = 0;
    const add = (email: string) => {
      // Each entry costs its length and a few bytes of framing in the answer.
      bytes += Buffer.byteLength(email) + 3;
      if (bytes > maxBytes)
        throw new DomainError("resource_exhausted", "MESSAGE_TOO_LARGE", `more accounts than fit in one answer of ${maxBytes} bytes; raise max_message_bytes`);
      accounts.push(email);
    };
    if (caller.kind === "basic") {
      for (let after: { createdAt: Date; id: string } | undefined; ;) {
        const page = await this.d.store.users.list(LIST_PAGE, after);
        for (const u of page) if (!u.disabled) add(u.email);
        if (page.length < LIST_PAGE) break;
        after = { createdAt: page.at(-1)!.createdAt, id: page.at(-1)!.id };
      }
    } else {
      for (let after: { createdAt: Date; userId: string } | undefined; ;) {
        const page = await this.d.store.orgs.listMembers(caller.organizationId, LIST_PAGE, after);
        for (const m of page) add(m.email);
        if (page.length < LIST_PAGE) break;
        after = { createdAt: page.at(-1)!.createdAt, userId: page.at(-1)!.userId };
      }
    }
    await this.d.audit.recordAlone({
      eventType: "backchannel.list_accounts",
      outcome: "success",
      actorType: caller.kind === "basic" ? "backchannel" : "service_account",
      actorId: caller.kind === "basic" ? "basic" : caller.id,
      targetType: caller.kind === "basic" ? "installation" : "organization",
      targetId: caller.kind === "basic" ? "" : caller.organizationId,
      details: { accounts: String(accounts.length), protocol: meta.protocol.slice(0, 32) },
      clientIp: meta.clientIp,
      requestId: meta.requestId,
    });
    return accounts;
  }

  private async decideFor(user: UserRow & { hasMfa: boolean }, client: MailClient): Promise<MailDecision> {
    const orgs = await this.d.store.orgs.list(MAX_ORGANIZATIONS, user.id);
    // A password alone cannot satisfy an organization that requires a second factor, and IMAP
    // or SMTP have no way to ask for one.
    const mfaRequiredBy = orgs.filter((o) => o.requireMfa && !o.suspended);
    const audit = (outcome: "success" | "failure", details: Record<string, string>) => this.auditDecision(user, client, outcome, details);
    try {
      this.d.locks.requireUnlocked({ userId: user.id, roles: user.roles });
    } catch (err) {
      if (!(err instanceof DomainError) || err.reason !== "LOCKED") throw err;
      // The mail client hears what a wrong password gets: a lock is the admins' business.
      await audit("failure", { reason: "locked", lock_id: err.extra.metadata?.lock_id ?? "" });
      return { decision: "fail", status: "invalid_credentials" };
    }
    if (mfaRequiredBy.length) {
      await audit("failure", { reason: "mfa_required", organization_id: mfaRequiredBy[0]!.id });
      return { decision: "fail", status: "mfa_required" };
    }
    const hasTotp = user.hasMfa && (await this.d.store.mfa.confirmedFactors(user.id, "totp")).length > 0;
    await audit("success", {});
    return {
      decision: "ok",
      user,
      hasTotp,
      attributes: {
        account: [user.email],
        mail: [user.email],
        displayName: user.displayName ? [user.displayName] : [],
        uid: [user.id],
        organizations: orgs.map((o) => o.id),
        organizationNames: orgs.map((o) => o.name),
        organizationRoles: orgs.map((o) => `${o.id}:${o.callerRole ?? ""}`),
        roles: user.roles,
        ...(user.loginAlias ? { loginAlias: [user.loginAlias] } : {}),
      },
    };
  }

  /**
   * The account a username names: an email, or a user's login alias. An unknown alias stands for
   * an account nobody has, so it costs the same (budget, dummy hash) as an unknown email.
   */
  private async accountOf(username: string): Promise<string> {
    if (username.includes("@")) return normalizeEmail(username);
    const alias = username.trim().toLowerCase();
    const user = LOGIN_ALIAS.test(alias) ? await this.d.store.users.findByLoginAlias(alias) : undefined;
    return user?.email ?? `alias-${sha256Hex(alias).slice(0, 24)}@alias.invalid`;
  }

  private auditDecision(user: UserRow, client: MailClient, outcome: "success" | "failure", details: Record<string, string>): Promise<void> {
    return this.d.audit.recordAlone({
      eventType: "auth.backchannel",
      outcome,
      actorType: "user",
      actorId: user.id,
      targetType: "user",
      targetId: user.id,
      details: { protocol: client.protocol.slice(0, 32), ...details },
      clientIp: client.clientIp,
      requestId: client.requestId,
    });
  }

  private attemptKey(client: MailClient, password: string): string {
    return createHmac("sha256", this.repeatKey)
      .update(`${client.clientIp}\0${client.protocol}\0${sha256Hex(password)}`)
      .digest("base64url");
  }

  private remember(account: string, attempt: string): void {
    const seen = this.failedBefore.get(account) ?? new Set<string>();
    // A handful per account is what misconfigured clients produce; more is an attacker's list.
    if (seen.size < 16) seen.add(attempt);
    this.failedBefore.set(account, seen);
  }
}

/** A refusal of the credential (wrong password, locked out) as opposed to a fault. */
function isRefusal(err: unknown): err is DomainError {
  return err instanceof DomainError && (err.kind === "unauthenticated" || err.reason === "RATE_LIMITED" || err.kind === "invalid_argument");
}

function tempfail(err: unknown): MailDecision {
  const reason = err instanceof DomainError ? err.reason : "INTERNAL";
  return { decision: "tempfail", status: "temporarily_unavailable", error: `temporary failure (${reason})` };
}

/** What a check the caller no longer waits for returns: nobody reads it. */
function abandonedDecision(): MailDecision {
  return { decision: "tempfail", status: "temporarily_unavailable", error: "abandoned after the backchannel timeout" };
}
