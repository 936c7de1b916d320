import type { ServiceImpl } from "@connectrpc/connect";
import { MembershipService } from "../../gen/warden/org/v1/membership_service_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import type { Organizations } from "../domain/org/organizations.js";
import { callerOf, grantOf, metaOf, principalOf } from "./call-context.js";
import { memberToProto, organizationToProto, roleFromProto, tierFromProto } from "./tenancy-converters.js";

export function organizationHandlers(orgs: Organizations): ServiceImpl<typeof OrganizationService> {
  return {
    async createOrganization(req, ctx) {
      return { organization: organizationToProto(await orgs.create(callerOf(ctx), req.name, tierFromProto(req.tier), metaOf(ctx))) };
    },
    async getOrganization(_req, ctx) {
      const grant = grantOf(ctx);
      return { organization: organizationToProto({ ...grant.organization, callerRole: grant.role }) };
    },
    async updateOrganization(req, ctx) {
      return {
        organization: organizationToProto(await orgs.update(principalOf(ctx), grantOf(ctx), { name: req.name, requireMfa: req.requireMfa }, metaOf(ctx))),
      };
    },
    async deleteOrganization(_req, ctx) {
      await orgs.delete(principalOf(ctx), grantOf(ctx), metaOf(ctx));
      return {};
    },
    async listOrganizations(req, ctx) {
      const page = await orgs.list(callerOf(ctx), req);
      return { organizations: page.items.map(organizationToProto), nextPageToken: page.nextPageToken };
    },
    async suspendOrganization(req, ctx) {
      return { organization: organizationToProto(await orgs.setSuspended(callerOf(ctx), req.id, req.suspended, metaOf(ctx))) };
    },
  };
}

export function membershipHandlers(orgs: Organizations): ServiceImpl<typeof MembershipService> {
  return {
    async addMember(req, ctx) {
      return { member: memberToProto(await orgs.addMember(principalOf(ctx), grantOf(ctx), req.userId, roleFromProto(req.role), metaOf(ctx))) };
    },
    async removeMember(req, ctx) {
      await orgs.removeMember(principalOf(ctx), grantOf(ctx), req.userId, metaOf(ctx));
      return {};
    },
    async updateMemberRole(req, ctx) {
      return { member: memberToProto(await orgs.updateMemberRole(principalOf(ctx), grantOf(ctx), req.userId, roleFromProto(req.role), metaOf(ctx))) };
    },
    async acceptMembership(_req, ctx) {
      return { member: memberToProto(await orgs.acceptMembership(callerOf(ctx), grantOf(ctx), metaOf(ctx))) };
    },
    async listMembers(req, ctx) {
      const page = await orgs.listMembers(grantOf(ctx), req);
      return { members: page.items.map(memberToProto), nextPageToken: page.nextPageToken };
    },
  };
}
