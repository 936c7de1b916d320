import { create } from "@bufbuild/protobuf";
import { timestampFromDate, type Duration } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { AgentIdentitySchema, type AgentIdentity, type AgentService } from "../../gen/warden/agent/v1/agent_service_pb.js";
import { AgentIdentityCredentialsSchema, type AgentIdentityCredentials, type JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import type { AgentIdentities } from "../domain/agent-identity/agent-identities.js";
import type { IdentityCredentials, IdentityTokenExchange } from "../domain/agent-identity/identity-token-exchange.js";
import { invalidArgument } from "../domain/errors.js";
import type { AgentIdentityListing } from "../domain/store/agent-identity-store.js";
import { joinAttempt, metaOf, principalOf } from "./call-context.js";

export type AgentIdentityAdminMethods = Pick<ServiceImpl<typeof AgentService>, "createAgentIdentity" | "listAgentIdentities" | "deleteAgentIdentity">;
export type AgentIdentityJoinMethods = Pick<ServiceImpl<typeof JoinService>, "bootstrapAgentIdentity" | "renewAgentIdentity">;

/** Agent identities: their administration (AgentService) and their token exchanges (JoinService, public). */
export function agentIdentityHandlers(
  identities: AgentIdentities,
  exchange: IdentityTokenExchange,
): { admin: AgentIdentityAdminMethods; join: AgentIdentityJoinMethods } {
  return {
    admin: {
      async createAgentIdentity(req, ctx) {
        const { bootstrapToken, identity } = await identities.create(
          principalOf(ctx),
          {
            name: req.name,
            roles: req.roles,
            bootstrapTtlSeconds: wholeSeconds("bootstrap_ttl", req.bootstrapTtl),
            certTtlSeconds: wholeSeconds("cert_ttl", req.certTtl),
          },
          metaOf(ctx),
        );
        return { agentIdentity: agentIdentityToProto(identity), bootstrapToken };
      },
      async listAgentIdentities(req) {
        const page = await identities.list(req.pageSize, req.pageToken);
        return { agentIdentities: page.items.map(agentIdentityToProto), nextPageToken: page.nextPageToken };
      },
      async deleteAgentIdentity(req, ctx) {
        await identities.delete(principalOf(ctx), req.id, metaOf(ctx));
        return {};
      },
    },
    join: {
      async bootstrapAgentIdentity(req, ctx) {
        const issued = await joinAttempt(ctx, () =>
          exchange.bootstrap({ token: req.bootstrapToken, sshPublicKey: req.sshPublicKey, tlsPublicKey: req.tlsPublicKey }, metaOf(ctx)),
        );
        return { credentials: credentialsToProto(issued) };
      },
      async renewAgentIdentity(req, ctx) {
        const issued = await joinAttempt(ctx, () =>
          exchange.renew({ token: req.renewalToken, sshPublicKey: req.sshPublicKey, tlsPublicKey: req.tlsPublicKey }, metaOf(ctx)),
        );
        return { credentials: credentialsToProto(issued) };
      },
    },
  };
}

function wholeSeconds(field: string, d: Duration | undefined): number | undefined {
  if (!d) return undefined;
  if (d.nanos !== 0) throw invalidArgument(field, "must be whole seconds");
  return Number(d.seconds);
}

function agentIdentityToProto(i: AgentIdentityListing): AgentIdentity {
  return create(AgentIdentitySchema, {
    id: i.id,
    name: i.name,
    roles: i.roles,
    generation: i.generation,
    locked: i.lockedAt !== null,
    lockReason: i.lockReason ?? "",
    bootstrapped: i.bootstrappedAt !== null,
    createTime: timestampFromDate(i.createdAt),
    bootstrapExpireTime: i.bootstrapExpiresAt && timestampFromDate(i.bootstrapExpiresAt),
    lastRenewTime: i.lastRenewedAt ? timestampFromDate(i.lastRenewedAt) : undefined,
    certTtl: { seconds: BigInt(i.certTtlSeconds) },
  });
}

function credentialsToProto(c: IdentityCredentials): AgentIdentityCredentials {
  return create(AgentIdentityCredentialsSchema, {
    identityId: c.identityId,
    sshCertificate: c.sshCertificate,
    tlsCertificate: c.tlsCertificate,
    tlsPrivateKey: c.tlsPrivateKey,
    tlsCa: c.tlsCa,
    trustedHostCas: c.trustedHostCas,
    renewalToken: c.renewalToken,
    validBefore: timestampFromDate(c.validBefore),
    generation: c.generation,
  });
}
