import type { Clock } from "../../clock.js";
import type { Db } from "../../db/client.js";
import type { SessionRepository } from "../../db/repositories/session-repository.js";
import type { SessionRow } from "../../db/schema/index.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { notFound, permissionDenied } from "../errors.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import type { UserPrincipal } from "../principal.js";
import { auditActor } from "../audit/audit-actor.js";
import type { SessionManager, SessionTimeouts } from "./session-manager.js";

export interface SessionQueryDeps {
  db: Db;
  clock: Clock;
  repo: SessionRepository;
  sessions: SessionManager;
  audit: AuditLog;
  timeouts: SessionTimeouts;
}

/**
 * Listing and ending sessions. A caller may act on its own sessions; anyone else's needs a
 * system admin, and that is decided before looking anything up, so ids cannot be probed.
 */
export class SessionQueries {
  constructor(private readonly d: SessionQueryDeps) {}

  private targetUser(caller: UserPrincipal, userId: string): string {
    const target = userId || caller.userId;
    if (target !== caller.userId && !caller.admin) throw permissionDenied("NOT_OWN_SESSION", "only an administrator may see or end another user's sessions");
    return target;
  }

  async get(caller: UserPrincipal, id: string): Promise<SessionRow> {
    const row = await this.d.repo.findById(this.d.db, id);
    // A non-admin gets the same answer for another user's session and for no session at all.
    if (!caller.admin && (!row || row.userId !== caller.userId))
      throw permissionDenied("NOT_OWN_SESSION", "only an administrator may see or end another user's sessions");
    if (!row) throw notFound("session");
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
    const rows = await this.d.repo.list(this.d.db, userId, size + 1, {
      // Session ids are hex, not uuids.
      after: decodeCreatedCursor(req.pageToken, false),
      activeAt: activeOnly ? now : undefined,
      idleCutoff: activeOnly ? new Date(now.getTime() - this.d.timeouts.idleSeconds * 1000) : undefined,
    });
    const page = pageOf(rows, size, createdCursorOf);
    return { sessions: page.items, nextPageToken: page.nextPageToken };
  }

  async revoke(caller: UserPrincipal, id: string, meta: RequestMeta): Promise<void> {
    const session = await this.get(caller, id);
    await this.d.db.transaction(async (tx) => {
      await this.d.repo.revoke(tx, session.id, caller.userId === session.userId ? "user_revoked" : "admin_revoked", this.d.clock.now());
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
    const ids = await this.d.db.transaction(async (tx) => {
      const revoked = await this.d.repo.revokeAllForUser(
        tx,
        userId,
        caller.userId === userId ? "user_revoked_all" : "admin_revoked_all",
        this.d.clock.now(),
        keep,
      );
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
