import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { LockSchema, LockService, LockTargetKind, LockTargetSchema, type Lock } from "../../gen/warden/lock/v1/lock_service_pb.js";
import type { Locks } from "../domain/lock/locks.js";
import type { LockRow } from "../domain/records.js";
import type { LockTargetKind as DomainKind } from "../domain/store/lock-store.js";
import { invalidArgument } from "../domain/errors.js";
import { metaOf, principalOf } from "./call-context.js";

const KIND_FROM_PB: Partial<Record<LockTargetKind, DomainKind>> = {
  [LockTargetKind.USER]: "user",
  [LockTargetKind.ROLE]: "role",
  [LockTargetKind.NODE]: "node",
  [LockTargetKind.DEVICE]: "device",
  [LockTargetKind.AGENT_IDENTITY]: "agent_identity",
  [LockTargetKind.LOGIN]: "login",
};
const KIND_TO_PB: Record<string, LockTargetKind> = Object.fromEntries(Object.entries(KIND_FROM_PB).map(([pb, kind]) => [kind, Number(pb)]));

export function lockHandlers(locks: Locks): ServiceImpl<typeof LockService> {
  return {
    async createLock(req, ctx) {
      const kind = req.target && KIND_FROM_PB[req.target.kind];
      if (!req.target || !kind) throw invalidArgument("target.kind", "is required");
      const { expiry } = req;
      if (expiry.case === "ttl" && expiry.value.nanos !== 0) throw invalidArgument("ttl", "must be whole seconds");
      const row = await locks.create(
        principalOf(ctx),
        {
          kind,
          value: req.target.value,
          message: req.message,
          ttlSeconds: expiry.case === "ttl" ? Number(expiry.value.seconds) : undefined,
          expiresAt: expiry.case === "expiresAt" ? timestampDate(expiry.value) : undefined,
        },
        metaOf(ctx),
      );
      return { lock: lockToProto(row) };
    },
    async listLocks(req) {
      const page = await locks.list(req.pageSize, req.pageToken, KIND_FROM_PB[req.kind]);
      return { locks: page.items.map(lockToProto), nextPageToken: page.nextPageToken };
    },
    async deleteLock(req, ctx) {
      await locks.delete(principalOf(ctx), req.id, metaOf(ctx));
      return {};
    },
  };
}

export function lockToProto(l: LockRow): Lock {
  return create(LockSchema, {
    id: l.id,
    target: create(LockTargetSchema, { kind: KIND_TO_PB[l.targetKind] ?? LockTargetKind.UNSPECIFIED, value: l.targetValue }),
    message: l.message,
    expiresAt: l.expiresAt ? timestampFromDate(l.expiresAt) : undefined,
    createdAt: timestampFromDate(l.createdAt),
    createdBy: l.createdBy,
  });
}
