import type { Clock } from "../../clock.js";
import type { AuditLog } from "../audit/audit-log.js";
import { auditActor } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { notFound, permissionDenied } from "../errors.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import type { UserPrincipal } from "../principal.js";
import type { SessionRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { SessionStore } from "../store/session-store.js";
import type { Ports } from "../store/transactional.js";
import type { SessionManager, SessionTimeouts } from "./session-manager.js";
import { isSshSessionRef, type SshSessions } from "../agent/ssh-sessions.js";
import type { SshSessionListing } from "../store/ssh-session-store.js";

export interface SessionQueryDeps {
  store: Ports<{ sessions: Pick<SessionStore, "findById" | "list" | "revoke" | "revokeAllForUser">; audit: Pick<AuditStore, "append"> }>;
  clock: Clock;
  sessions: SessionManager;
  audit: AuditLog;
  timeouts: SessionTimeouts;
  /** The SSH sessions agents report: listed and revoked here too. */
  ssh: Pick<SshSessions, "list" | "revoke">;
}

const notOwn = () => permissionDenied("NOT_OWN_SESSION", "only a caller whose roles allow it may see or end another user's sessions");

/**
 * Listing and ending sessions. A caller may act on its own sessions; anyone else's needs the
 * method's session permission (systemAccess), decided before anything is looked up, so ids
 * cannot be probed.
 */
export class SessionQueries {
  constructor(private readonly d: SessionQueryDeps) {}

  private targetUser(caller: UserPrincipal, userId: string): string {
    const target = userId || caller.userId;
    if (target !== caller.userId && !caller.systemAccess) throw notOwn();
    return target;
  }

  async get(caller: UserPrincipal, id: string): Promise<SessionRow> {
    const row = await this.d.store.sessions.findById(id);
    // Without the permission, another user's session and no session at all get the same answer.
    if (!caller.systemAccess && (!row || row.userId !== caller.userId)) throw notOwn();
    if (!row) throw notFound("SESSION_NOT_FOUND", "session");
    return row;
  }

  async list(
    caller: UserPrincipal,
    req: { userId: string; pageSize: number; pageToken: string },
    activeOnly: boolean,
  ): Promise<{ sessions: SessionRow[]; nextPageToken: string }> {
    const userId = this.targetUser(caller, req.userId);
    const size = pageSize(req.pageSize);
    const now = this.d.clock.now();
    const rows = await this.d.store.sessions.list(userId, size + 1, {
      // Session ids are hex, not uuids.
      after: decodeCreatedCursor(req.pageToken, false),
      activeAt: activeOnly ? now : undefined,
      idleCutoff: activeOnly ? new Date(now.getTime() - this.d.timeouts.idleSeconds * 1000) : undefined,
    });
    const page = pageOf(rows, size, createdCursorOf);
    return { sessions: page.items, nextPageToken: page.nextPageToken };
  }

  /** Active SSH sessions on online nodes (see SshSessions.list); their own page token. */
  listSsh(caller: UserPrincipal, req: { userId: string; pageSize: number; pageToken: string }): Promise<{ items: SshSessionListing[]; nextPageToken: string }> {
    return this.d.ssh.list(caller, req);
  }

  /** A session, or an SSH session by its "ssh:<node id>:<session id>". */
  async revoke(caller: UserPrincipal, id: string, meta: RequestMeta): Promise<void> {
    if (isSshSessionRef(id)) return this.d.ssh.revoke(caller, id, meta);
    const session = await this.get(caller, id);
    await this.d.store.transaction(async (tx) => {
      await tx.sessions.revoke(session.id, caller.userId === session.userId ? "user_revoked" : "admin_revoked", this.d.clock.now());
      await this.d.audit.record(tx, {
        eventType: "session.revoke",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "session",
        targetId: session.id,
        details: { user_id: session.userId },
      });
    });
    await this.d.sessions.revoked([session.id]);
  }

  async revokeAll(caller: UserPrincipal, req: { userId: string; keepCurrent: boolean }, meta: RequestMeta): Promise<number> {
    const userId = this.targetUser(caller, req.userId);
    const keep = req.keepCurrent && userId === caller.userId ? caller.sessionId : undefined;
    const ids = await this.d.store.transaction(async (tx) => {
      const revoked = await tx.sessions.revokeAllForUser(userId, caller.userId === userId ? "user_revoked_all" : "admin_revoked_all", this.d.clock.now(), keep);
      await this.d.audit.record(tx, {
        eventType: "session.revoke_all",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "user",
        targetId: userId,
        details: { revoked: String(revoked.length) },
      });
      return revoked;
    });
    await this.d.sessions.revoked(ids);
    return ids.length;
  }
}
