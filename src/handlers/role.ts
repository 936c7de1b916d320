import type { ServiceImpl } from "@connectrpc/connect";
import { RoleService, type Role } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { invalidArgument } from "../domain/errors.js";
import type { RoleAdmin } from "../domain/rbac/role-admin.js";
import { metaOf, principalOf } from "./call-context.js";
import { roleSshFromProto, roleToProto, rulesFromProto } from "./tenancy-converters.js";

export function roleHandlers(roles: RoleAdmin): ServiceImpl<typeof RoleService> {
  const input = (role: Role | undefined) => {
    if (!role) throw invalidArgument("role", "is required");
    return {
      name: role.name,
      description: role.description,
      rules: rulesFromProto(role.rules),
      ...roleSshFromProto(role),
      requestRoles: role.requestRoles,
      reviewRoles: role.reviewRoles,
      approvalsRequired: role.approvalsRequired,
    };
  };
  return {
    async createRole(req, ctx) {
      return { role: roleToProto(await roles.create(principalOf(ctx), input(req.role), metaOf(ctx))) };
    },
    async updateRole(req, ctx) {
      return { role: roleToProto(await roles.update(principalOf(ctx), input(req.role), metaOf(ctx))) };
    },
    async deleteRole(req, ctx) {
      await roles.delete(principalOf(ctx), req.name, metaOf(ctx));
      return {};
    },
    async getRole(req) {
      return { role: roleToProto(await roles.get(req.name)) };
    },
    async listRoles(req) {
      const page = await roles.list(req);
      return { roles: page.items.map(roleToProto), nextPageToken: page.nextPageToken };
    },
  };
}
