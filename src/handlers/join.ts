import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { IamRuleSchema, JoinMethod, JoinService, JoinTokenSchema, type JoinToken } from "../../gen/warden/join/v1/join_service_pb.js";
import type { NodeEnrollment } from "../domain/join/node-enrollment.js";
import { isSpent, type JoinMethod as DomainJoinMethod, type JoinTokens } from "../domain/join/join-tokens.js";
import type { JoinTokenRow } from "../domain/records.js";
import type { Clock } from "../clock.js";
import { joinAttempt, metaOf, principalOf } from "./call-context.js";
import { invalidArgument } from "../domain/errors.js";

const METHOD_FROM_PB: Partial<Record<JoinMethod, DomainJoinMethod>> = {
  [JoinMethod.UNSPECIFIED]: "token",
  [JoinMethod.TOKEN]: "token",
  [JoinMethod.IAM]: "iam",
};
const METHOD_TO_PB: Record<string, JoinMethod> = { token: JoinMethod.TOKEN, iam: JoinMethod.IAM };

/** The join-token half of JoinService (the IAM join, agent identities and SPIFFE have their own files). */
export type JoinTokenMethods = Pick<
  ServiceImpl<typeof JoinService>,
  "createJoinToken" | "listJoinTokens" | "deleteJoinToken" | "validateJoinToken" | "generateHostCerts" | "registerAgent"
>;

export function joinHandlers(tokens: JoinTokens, enrollment: NodeEnrollment, clusterName: string, clock: Clock): JoinTokenMethods {
  return {
    async createJoinToken(req, ctx) {
      if (req.ttl && req.ttl.nanos !== 0) throw invalidArgument("ttl", "must be whole seconds");
      const { token, row } = await tokens.create(
        principalOf(ctx),
        {
          roles: req.roles,
          uses: req.uses,
          ttlSeconds: req.ttl ? Number(req.ttl.seconds) : undefined,
          labels: req.labels,
          joinMethod: METHOD_FROM_PB[req.joinMethod] ?? "token",
          allow: req.allow.map((a) => ({ awsAccount: a.awsAccount, awsArn: a.awsArn })),
        },
        metaOf(ctx),
      );
      return { token, joinToken: joinTokenToProto(row, clock.now()) };
    },
    async listJoinTokens(req) {
      const page = await tokens.list(req.pageSize, req.pageToken);
      const now = clock.now();
      return { joinTokens: page.items.map((t) => joinTokenToProto(t, now)), nextPageToken: page.nextPageToken };
    },
    async deleteJoinToken(req, ctx) {
      await tokens.delete(principalOf(ctx), req.id, metaOf(ctx));
      return {};
    },
    async validateJoinToken(req, ctx) {
      const row = await joinAttempt(ctx, () => tokens.resolve(req.token));
      return {
        roles: row.roles,
        labels: row.labels,
        usesRemaining: row.usesRemaining,
        expireTime: timestampFromDate(row.expiresAt),
        joinMethod: METHOD_TO_PB[row.joinMethod] ?? JoinMethod.UNSPECIFIED,
        clusterName,
      };
    },
    async generateHostCerts(req, ctx) {
      const certs = await joinAttempt(ctx, () =>
        enrollment.generateHostCerts(
          { token: req.token, hostPublicKey: req.hostPublicKey, hostname: req.hostname, addresses: req.addresses, tlsPublicKey: req.tlsPublicKey },
          metaOf(ctx),
        ),
      );
      return { ...certs, validBefore: timestampFromDate(certs.validBefore) };
    },
    async registerAgent(req, ctx) {
      const r = await joinAttempt(ctx, () =>
        enrollment.register(
          { token: req.token, hostname: req.hostname, addresses: req.addresses, labels: req.labels, hostPublicKey: req.hostPublicKey, version: req.version },
          metaOf(ctx),
        ),
      );
      return { agentId: r.node.id, clusterName: r.clusterName, agentToken: r.agentToken };
    },
  };
}

export function joinTokenToProto(t: JoinTokenRow, now: Date): JoinToken {
  return create(JoinTokenSchema, {
    id: t.id,
    roles: t.roles,
    uses: t.uses,
    usesRemaining: t.usesRemaining,
    expireTime: timestampFromDate(t.expiresAt),
    labels: t.labels,
    joinMethod: METHOD_TO_PB[t.joinMethod] ?? JoinMethod.UNSPECIFIED,
    allow: t.allow.map((a) => create(IamRuleSchema, a)),
    createTime: timestampFromDate(t.createdAt),
    createdBy: t.createdBy,
    spent: isSpent(t, now),
  });
}
