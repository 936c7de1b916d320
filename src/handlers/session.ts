import type { ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { SessionService, SshSessionInfoSchema, type SshSessionInfo } from "../../gen/warden/session/v1/session_service_pb.js";
import { sshSessionRef } from "../domain/agent/ssh-sessions.js";
import type { SshSessionListing } from "../domain/store/ssh-session-store.js";
import { DomainError } from "../domain/errors.js";
import type { Principal, UserPrincipal } from "../domain/principal.js";
import type { SessionManager } from "../domain/session/session-manager.js";
import type { SessionQueries } from "../domain/session/session-queries.js";
import type { Authenticator } from "../domain/auth/authenticator.js";
import { callerOf, metaOf } from "./call-context.js";
import { sessionToProto } from "./converters.js";

export function sessionHandlers(queries: SessionQueries, sessions: SessionManager, auth: Authenticator): ServiceImpl<typeof SessionService> {
  return {
    async validateSession(req, ctx) {
      let principal = req.token ? undefined : callerOf(ctx);
      if (req.token) {
        try {
          principal = toUserOrUndefined(await auth.authenticate(req.token, metaOf(ctx).clientIp));
        } catch (err) {
          // An invalid token is an answer here, not an error; faults still fail closed.
          if (!(err instanceof DomainError && err.kind === "unauthenticated")) throw err;
        }
        // Machine credentials are valid credentials, but not sessions.
        if (!principal) return { valid: false, userId: "" };
      }
      const live = await sessions.requireLive(principal!.sessionId);
      return {
        valid: true,
        userId: principal!.userId,
        session: sessionToProto(live.session, true),
        expiresAt: timestampFromDate(live.session.expiresAt),
      };
    },
    async getSession(req, ctx) {
      const s = await queries.get(callerOf(ctx), req.id);
      return { session: sessionToProto(s, sessions.isActive(s)) };
    },
    async listSessions(req, ctx) {
      const page = await queries.list(callerOf(ctx), req, false);
      return { sessions: page.sessions.map((s) => sessionToProto(s, sessions.isActive(s))), nextPageToken: page.nextPageToken };
    },
    async listActiveSessions(req, ctx) {
      const caller = callerOf(ctx);
      const page = await queries.list(caller, req, true);
      const ssh = await queries.listSsh(caller, { userId: req.userId, pageSize: req.pageSize, pageToken: req.sshPageToken });
      return {
        sessions: page.sessions.map((s) => sessionToProto(s, true)),
        nextPageToken: page.nextPageToken,
        sshSessions: ssh.items.map(sshSessionToProto),
        nextSshPageToken: ssh.nextPageToken,
      };
    },
    async revokeSession(req, ctx) {
      await queries.revoke(callerOf(ctx), req.id, metaOf(ctx));
      return {};
    },
    async revokeAllSessionsForUser(req, ctx) {
      const revokedCount = await queries.revokeAll(callerOf(ctx), { userId: req.userId, keepCurrent: req.keepCurrent }, metaOf(ctx));
      return { revokedCount };
    },
  };
}

function sshSessionToProto(s: SshSessionListing): SshSessionInfo {
  return create(SshSessionInfoSchema, {
    id: sshSessionRef(s),
    nodeId: s.nodeId,
    hostname: s.hostname,
    user: s.user,
    userId: s.userId ?? "",
    login: s.login,
    startTime: timestampFromDate(s.startedAt),
    remoteAddress: s.remoteAddress,
    terminating: !!s.terminateRequestedAt,
  });
}

function toUserOrUndefined(p: Principal): UserPrincipal | undefined {
  return p.kind === "user" ? p : undefined;
}
