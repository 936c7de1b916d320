import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  AccessRequestSchema,
  AccessRequestService,
  AccessRequestState,
  ReviewDecision,
  type AccessRequest,
} from "../../gen/warden/access/v1/access_request_service_pb.js";
import { stateAt, type AccessRequests } from "../domain/access/access-requests.js";
import type { Clock } from "../clock.js";
import { invalidArgument } from "../domain/errors.js";
import type { AccessRequestRow } from "../domain/records.js";
import type { AccessRequestState as DomainState } from "../domain/store/access-request-store.js";
import { metaOf, principalOf } from "./call-context.js";

const STATE_TO_PB: Record<DomainState, AccessRequestState> = {
  pending: AccessRequestState.PENDING,
  approved: AccessRequestState.APPROVED,
  denied: AccessRequestState.DENIED,
  cancelled: AccessRequestState.CANCELLED,
  expired: AccessRequestState.EXPIRED,
};
const STATE_FROM_PB = new Map(Object.entries(STATE_TO_PB).map(([s, pb]) => [pb, s as DomainState]));

export function accessRequestHandlers(requests: AccessRequests, clock: Clock): ServiceImpl<typeof AccessRequestService> {
  const toProto = (row: AccessRequestRow) => accessRequestToProto(row, clock.now());
  return {
    async createAccessRequest(req, ctx) {
      const ttl = req.requestedTtl;
      if (ttl && ttl.nanos !== 0) throw invalidArgument("requested_ttl", "must be whole seconds");
      const row = await requests.create(
        principalOf(ctx),
        { roles: req.roles, nodeIds: req.nodeIds, reason: req.reason, ttlSeconds: ttl ? Number(ttl.seconds) : undefined },
        metaOf(ctx),
      );
      return { accessRequest: toProto(row) };
    },
    async getAccessRequest(req, ctx) {
      return { accessRequest: toProto(await requests.get(principalOf(ctx), req.id)) };
    },
    async listAccessRequests(req, ctx) {
      const page = await requests.list(principalOf(ctx), { pageSize: req.pageSize, pageToken: req.pageToken, state: STATE_FROM_PB.get(req.state) });
      return { accessRequests: page.items.map(toProto), nextPageToken: page.nextPageToken };
    },
    async reviewAccessRequest(req, ctx) {
      if (req.decision !== ReviewDecision.APPROVE && req.decision !== ReviewDecision.DENY) throw invalidArgument("decision", "must be APPROVE or DENY");
      const decision = req.decision === ReviewDecision.APPROVE ? "approve" : "deny";
      return { accessRequest: toProto(await requests.review(principalOf(ctx), req.id, decision, req.reason, metaOf(ctx))) };
    },
    async cancelAccessRequest(req, ctx) {
      return { accessRequest: toProto(await requests.cancel(principalOf(ctx), req.id, metaOf(ctx))) };
    },
  };
}

export function accessRequestToProto(r: AccessRequestRow, now: Date): AccessRequest {
  return create(AccessRequestSchema, {
    id: r.id,
    userId: r.userId,
    roles: r.roles,
    nodeIds: r.nodeIds,
    reason: r.reason,
    requestedTtl: r.requestedTtlSeconds === null ? undefined : { seconds: BigInt(r.requestedTtlSeconds) },
    state: STATE_TO_PB[stateAt(r, now)],
    approvalsRequired: r.approvalsRequired,
    reviews: r.reviews.map((v) => ({
      reviewerId: v.reviewerId,
      decision: v.decision === "approve" ? ReviewDecision.APPROVE : ReviewDecision.DENY,
      reason: v.reason,
      createTime: timestampFromDate(new Date(v.at)),
    })),
    createTime: timestampFromDate(r.createdAt),
    updateTime: timestampFromDate(r.updatedAt),
    pendingExpireTime: timestampFromDate(r.pendingExpiresAt),
    accessExpireTime: r.accessExpiresAt ? timestampFromDate(r.accessExpiresAt) : undefined,
  });
}
