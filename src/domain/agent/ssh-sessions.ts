import type { Clock } from "../../clock.js";
import { sha256Hex } from "../../crypto/random.js";
import { auditActor } from "../audit/audit-actor.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import type { BoundedCache } from "../cache/bounded-cache.js";
import type { Caches } from "../cache/caches.js";
import { invalidArgument, notFound, permissionDenied } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import { decodePageToken, encodePageToken, pageSize } from "../pagination.js";
import type { UserPrincipal } from "../principal.js";
import type { AuditStore } from "../store/audit-store.js";
import type { ReportedSshSession, SshSessionListing, SshSessionStore } from "../store/ssh-session-store.js";
import type { Ports } from "../store/transactional.js";

export interface SshSessionsDeps {
  store: Ports<{ sshSessions: SshSessionStore; audit: Pick<AuditStore, "append"> }>;
  bus: InvalidationBus;
  clock: Clock;
  audit: AuditLog;
  caches: Caches;
  /** node_offline_after now: an offline node's sessions are not active. */
  readonly offlineAfterSeconds: number;
}

/** The agent's report, before the user it names is resolved. */
export type SshSessionReport = Omit<ReportedSshSession, "userId">;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A user id, or a user certificate's key id ("<user id>@warden", see user-certificates.ts). */
const USER_REF = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(@warden)?$/i;
const SSH_ID = /^ssh:([0-9a-f-]{36}):(.{1,128})$/;
/** An agent's clock may run this far ahead of ours. */
const MAX_CLOCK_AHEAD_MS = 5 * 60_000;
/** A node's report is written again at least this often (a notification lost with its connection). */
const REPORT_CACHE_SECONDS = 300;

const notOwn = () => permissionDenied("NOT_OWN_SESSION", "only a caller whose roles allow it may see or end another user's sessions");

/** "ssh:<node id>:<session id>": the id ListActiveSessions shows and RevokeSession takes. */
export function sshSessionRef(s: { nodeId: string; sessionId: string }): string {
  return `ssh:${s.nodeId}:${s.sessionId}`;
}

export function isSshSessionRef(id: string): boolean {
  return id.startsWith("ssh:");
}

/**
 * The SSH sessions agents report with their heartbeats, listed with users' sessions and revoked
 * like them (the node's heartbeat replies tell the agent to end a revoked one). A heartbeat that
 * reports what this instance last wrote for the node, with nothing marked for termination, costs
 * no statement; a change or a revocation anywhere drops the node's entry on every instance.
 */
export class SshSessions {
  /** Node id -> hash of the report last written (only while none of it is to be terminated). */
  private readonly written: BoundedCache<string, string>;

  constructor(private readonly d: SshSessionsDeps) {
    this.written = d.caches.create("ssh_session_reports", { ttlSeconds: REPORT_CACHE_SECONDS });
    d.bus.on("ssh_session", (nodeId) => this.written.delete(nodeId));
  }

  /** Records a heartbeat's report; returns the ids the agent is to end. */
  async report(nodeId: string, sessions: SshSessionReport[]): Promise<string[]> {
    const ids = new Set(sessions.map((s) => s.sessionId));
    if (ids.size !== sessions.length) throw invalidArgument("ssh_sessions", "session ids must be unique");
    const latest = this.d.clock.now().getTime() + MAX_CLOCK_AHEAD_MS;
    for (const s of sessions) {
      const at = s.startedAt.getTime();
      if (!(at >= 0 && at <= latest)) throw invalidArgument("ssh_sessions.started_at", "must be after 1970 and not in the future");
    }
    const hash = sessions.length ? sha256Hex(JSON.stringify(sessions.map((s) => [s.sessionId, s.user, s.login, s.startedAt.getTime(), s.remoteAddress]))) : "";
    if (this.written.get(nodeId) === hash) return [];
    const { terminate, changed } = await this.d.store.sshSessions.replace(
      nodeId,
      sessions.map((s) => ({ ...s, userId: userIdOf(s.user) })),
    );
    // Other instances may hold an older report of this node (an agent may beat to any instance).
    if (changed) await this.d.bus.publish([{ topic: "ssh_session", id: nodeId }]);
    if (terminate.length === 0) this.written.set(nodeId, hash);
    return terminate;
  }

  /**
   * Active SSH sessions, newest first: every node's for a caller with the permission and no
   * user, otherwise the user's (a caller's own, or anyone's with the permission).
   */
  async list(
    caller: UserPrincipal,
    q: { userId: string; pageSize: number; pageToken: string },
  ): Promise<{ items: SshSessionListing[]; nextPageToken: string }> {
    if (q.userId && q.userId !== caller.userId && !caller.systemAccess) throw notOwn();
    const userId = q.userId || (caller.systemAccess ? undefined : caller.userId);
    const size = pageSize(q.pageSize);
    const after = decodePageToken<{ t: string; n: string; id: string }>(q.pageToken, ["t", "n", "id"]);
    // A forged node id the uuid column cannot hold must be a bad token, not a database error.
    if (after && !UUID.test(after.n)) throw invalidArgument("ssh_page_token", "is not a token this server issued");
    const rows = await this.d.store.sshSessions.listActive({
      onlineSince: this.onlineSince(),
      userId,
      limit: size + 1,
      after: after ? { startedAt: new Date(after.t), nodeId: after.n, sessionId: after.id } : undefined,
    });
    const items = rows.slice(0, size);
    const last = items[items.length - 1];
    return {
      items,
      nextPageToken: rows.length > size && last ? encodePageToken({ t: last.startedAt.toISOString(), n: last.nodeId, id: last.sessionId }) : "",
    };
  }

  /** Marks the session for termination; a caller without the permission only their own. */
  async revoke(caller: UserPrincipal, ref: string, meta: RequestMeta): Promise<void> {
    const m = SSH_ID.exec(ref);
    if (!m || !UUID.test(m[1]!)) throw invalidArgument("id", "is not an SSH session id (ssh:<node id>:<session id>)");
    const [nodeId, sessionId] = [m[1]!.toLowerCase(), m[2]!];
    const row = await this.d.store.sshSessions.findActive(nodeId, sessionId, this.onlineSince());
    // Without the permission, another user's session and no session at all get the same answer.
    if (!caller.systemAccess && (!row || row.userId !== caller.userId)) throw notOwn();
    if (!row) throw notFound("SESSION_NOT_FOUND", "SSH session");
    await this.d.store.transaction(async (tx) => {
      if (!(await tx.sshSessions.requestTermination(nodeId, sessionId, this.d.clock.now()))) throw notFound("SESSION_NOT_FOUND", "SSH session");
      await this.d.audit.record(tx, {
        eventType: "ssh.session.revoke",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "ssh_session",
        targetId: sshSessionRef(row),
        details: { node_id: nodeId, hostname: row.hostname, user: row.user, login: row.login },
      });
    });
    await this.d.bus.publish([{ topic: "ssh_session", id: nodeId }]);
  }

  private onlineSince(): Date {
    return new Date(this.d.clock.now().getTime() - this.d.offlineAfterSeconds * 1000);
  }
}

/** The Warden user a reported user names, if it names one. */
function userIdOf(user: string): string | null {
  const m = USER_REF.exec(user);
  return m ? m[1]!.toLowerCase() : null;
}
