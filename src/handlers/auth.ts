import type { ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import type { AuthService as Auth } from "../domain/auth/auth-service.js";
import { callerOf, metaOf } from "./call-context.js";
import { userToProto } from "./converters.js";

export function authHandlers(auth: Auth): Partial<ServiceImpl<typeof AuthService>> {
  return {
    async register(req, ctx) {
      const user = await auth.register({ email: req.email, password: req.password, displayName: req.displayName }, metaOf(ctx));
      return { user: userToProto(user) };
    },
    async login(req, ctx) {
      const r = await auth.login(req.email, req.password, metaOf(ctx));
      return { accessToken: r.accessToken, refreshToken: r.refreshToken, sessionId: r.session.id, expiresAt: timestampFromDate(r.expiresAt), user: userToProto(r.user) };
    },
    async authenticateLocal(req, ctx) {
      const r = await auth.login(req.username, req.password, metaOf(ctx), "password_local");
      return { sessionId: r.sessionBearer, expiresAt: timestampFromDate(r.session.expiresAt) };
    },
    async verifyCredentials(req, ctx) {
      const user = await auth.verifyCredentials(req.email, req.password, metaOf(ctx));
      return { userId: user.id };
    },
    async refresh(req, ctx) {
      const r = await auth.refresh(req.refreshToken, metaOf(ctx));
      return { accessToken: r.accessToken, refreshToken: r.refreshToken, expiresAt: timestampFromDate(r.expiresAt) };
    },
    async logout(_req, ctx) {
      await auth.logout(callerOf(ctx), metaOf(ctx));
      return {};
    },
    async changePassword(req, ctx) {
      const revokedSessions = await auth.changePassword(callerOf(ctx), req.currentPassword, req.newPassword, metaOf(ctx));
      return { revokedSessions };
    },
  };
}
