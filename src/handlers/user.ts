import type { ServiceImpl } from "@connectrpc/connect";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import type { UserAdmin } from "../domain/user/user-admin.js";
import { callerOf, metaOf, principalOf } from "./call-context.js";
import type { UserDirectory, UserView } from "../domain/user/user-directory.js";
import { userToProto } from "./converters.js";
import { create } from "@bufbuild/protobuf";
import { UserSchema, type User } from "../../gen/warden/user/v1/user_pb.js";

export function userHandlers(users: UserAdmin, directory: UserDirectory): ServiceImpl<typeof UserService> {
  return {
    async getUser(req, ctx) {
      return { user: viewToProto(await directory.get(principalOf(ctx), req.id)) };
    },
    async getUserByEmail(req, ctx) {
      return { user: viewToProto(await directory.getByEmail(principalOf(ctx), req.email)) };
    },
    async listUsers(req) {
      const page = await users.list({ pageSize: req.pageSize, pageToken: req.pageToken, emailPrefix: req.emailPrefix });
      return { users: page.users.map(userToProto), nextPageToken: page.nextPageToken };
    },
    async createUser(req, ctx) {
      const user = await users.create(
        callerOf(ctx),
        { email: req.email, password: req.password, displayName: req.displayName, roles: req.roles, admin: req.admin },
        metaOf(ctx),
      );
      return { user: userToProto(user) };
    },
    async updateUser(req, ctx) {
      const user = await users.update(
        callerOf(ctx),
        req.id,
        { displayName: req.displayName, admin: req.admin, roles: req.updateRoles ? req.roles : undefined, loginAlias: req.loginAlias },
        metaOf(ctx),
      );
      return { user: userToProto(user) };
    },
    async deleteUser(req, ctx) {
      await users.delete(callerOf(ctx), req.id, metaOf(ctx));
      return {};
    },
    async disableUser(req, ctx) {
      return { user: userToProto(await users.setDisabled(callerOf(ctx), req.id, true, metaOf(ctx))) };
    },
    async enableUser(req, ctx) {
      return { user: userToProto(await users.setDisabled(callerOf(ctx), req.id, false, metaOf(ctx))) };
    },
    async setLoginAlias(req, ctx) {
      return { user: userToProto(await users.setOwnLoginAlias(callerOf(ctx), req.loginAlias, metaOf(ctx))) };
    },
  };
}

/** A colleague's view carries id, email and display name only. */
function viewToProto(view: UserView): User {
  if (view.kind === "full") return userToProto(view.user);
  return create(UserSchema, { id: view.user.id, email: view.user.email, displayName: view.user.displayName });
}
