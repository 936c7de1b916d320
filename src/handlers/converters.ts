import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditEventSchema, Outcome, type AuditEvent } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { SessionSchema, type Session } from "../../gen/warden/session/v1/session_service_pb.js";
import { UserSchema, type User } from "../../gen/warden/user/v1/user_pb.js";
import type { AuditRow, SessionRow, UserRow } from "../domain/records.js";
import { isAdmin } from "../domain/rbac/builtin-roles.js";

export function userToProto(u: UserRow): User {
  return create(UserSchema, {
    id: u.id,
    email: u.email,
    displayName: u.displayName,
    disabled: u.disabled,
    admin: isAdmin(u),
    roles: u.roles,
    createTime: timestampFromDate(u.createdAt),
    updateTime: timestampFromDate(u.updatedAt),
    emailVerified: !!u.emailVerifiedAt,
    loginAlias: u.loginAlias ?? "",
    username: u.loginAlias ?? "",
    traits: Object.fromEntries(Object.entries(u.traits ?? {}).map(([name, values]) => [name, { values }])),
  });
}

export function sessionToProto(s: SessionRow, active: boolean): Session {
  return create(SessionSchema, {
    id: s.id,
    userId: s.userId,
    createTime: timestampFromDate(s.createdAt),
    lastSeenTime: timestampFromDate(s.lastSeenAt),
    expireTime: timestampFromDate(s.expiresAt),
    revokeTime: s.revokedAt ? timestampFromDate(s.revokedAt) : undefined,
    revokeReason: s.revokeReason ?? "",
    clientIp: s.clientIp,
    userAgent: s.userAgent,
    active,
    authMethod: s.authMethod,
    deviceId: s.deviceId ?? "",
  });
}

export function auditToProto(a: AuditRow): AuditEvent {
  return create(AuditEventSchema, {
    id: a.id,
    sequence: BigInt(a.sequence),
    time: timestampFromDate(a.occurredAt),
    eventType: a.eventType,
    outcome: a.outcome === "success" ? Outcome.SUCCESS : Outcome.FAILURE,
    actorType: a.actorType,
    actorId: a.actorId,
    targetType: a.targetType,
    targetId: a.targetId,
    clientIp: a.clientIp,
    requestId: a.requestId,
    details: a.details,
    hash: a.hash,
    keyId: a.keyId,
  });
}
