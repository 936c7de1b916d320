import type { ServiceImpl } from "@connectrpc/connect";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import type { UserAdmin } from "../domain/user/user-admin.js";
import { callerOf, metaOf, principalOf } from "./call-context.js";
import type { UserDirectory, UserView } from "../domain/user/user-directory.js";
import { userToProto } from "./converters.js";
import { create } from "@bufbuild/protobuf";
import { UserSchema, type TraitValues, type User } from "../../gen/warden/user/v1/user_pb.js";
import { invalidArgument } from "../domain/errors.js";
import type { Traits } from "../domain/user/traits.js";

export function userHandlers(users: UserAdmin, directory: UserDirectory): ServiceImpl<typeof UserService> {
  return {
    async getUser(req, ctx) {
      const view = req.id ? await directory.get(principalOf(ctx), req.id) : await directory.getByName(principalOf(ctx), req.name);
      return { user: viewToProto(view) };
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
        {
          email: req.email,
          password: req.password,
          displayName: req.displayName,
          roles: req.roles,
          admin: req.admin,
          username: req.username,
          traits: req.traits ? traitsOf(req.traits.values) : undefined,
        },
        metaOf(ctx),
      );
      return { user: userToProto(user) };
    },
    async updateUser(req, ctx) {
      const user = await users.update(
        callerOf(ctx),
        req.id,
        {
          displayName: req.displayName,
          admin: req.admin,
          roles: req.updateRoles ? req.roles : undefined,
          loginAlias: loginNameOf(req.loginAlias, req.username),
          traits: req.traits ? traitsOf(req.traits.values) : undefined,
        },
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

/** login_alias and username are one field under two names: give either, or both alike. */
function loginNameOf(loginAlias: string | undefined, username: string | undefined): string | undefined {
  if (loginAlias !== undefined && username !== undefined && loginAlias.trim().toLowerCase() !== username.trim().toLowerCase())
    throw invalidArgument("username", "username and login_alias are the same field: give one of them");
  return username ?? loginAlias;
}

function traitsOf(values: Record<string, TraitValues>): Traits {
  return Object.fromEntries(Object.entries(values).map(([name, v]) => [name, v.values]));
}

/** A colleague's view carries id, email and display name only. */
function viewToProto(view: UserView): User {
  if (view.kind === "full") return userToProto(view.user);
  return create(UserSchema, { id: view.user.id, email: view.user.email, displayName: view.user.displayName });
}
