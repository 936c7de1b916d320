import type { ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AdminService } from "../../gen/warden/admin/v1/admin_service_pb.js";
import type { Clock } from "../clock.js";
import type { KeyStore } from "../crypto/key-store.js";
import type { Database } from "../db/client.js";
import type { AuditRepository } from "../db/repositories/audit-repository.js";
import type { SessionRepository } from "../db/repositories/session-repository.js";
import type { UserRepository } from "../db/repositories/user-repository.js";
import type { AuditLog } from "../domain/audit/audit-log.js";
import { DomainError } from "../domain/errors.js";
import { auditActor } from "../domain/audit/audit-actor.js";
import { VERSION } from "../version.js";
import { callerOf, metaOf } from "./call-context.js";

export interface AdminDeps {
  database: Database;
  clock: Clock;
  startedAt: Date;
  users: UserRepository;
  sessions: SessionRepository;
  auditRepo: AuditRepository;
  audit: AuditLog;
  keys: KeyStore;
  idleTimeoutSeconds: number;
}

export function adminHandlers(d: AdminDeps): ServiceImpl<typeof AdminService> {
  return {
    async getSystemStats() {
      const db = d.database.db;
      const now = d.clock.now();
      const [users, sessionsActive, auditTotal] = await Promise.all([
        d.users.counts(db),
        d.sessions.countActive(db, now, new Date(now.getTime() - d.idleTimeoutSeconds * 1000)),
        d.auditRepo.count(db),
      ]);
      return {
        usersTotal: BigInt(users.total),
        usersDisabled: BigInt(users.disabled),
        sessionsActive: BigInt(sessionsActive),
        auditEventsTotal: BigInt(auditTotal),
        version: VERSION,
        startTime: timestampFromDate(d.startedAt),
        signingKeyId: d.keys.signingKey().kid,
        databaseDriver: d.database.driver,
      };
    },
    async rotateSigningKey(_req, ctx) {
      if (d.keys.algorithm === "HS256")
        throw new DomainError("failed_precondition", "HS256_KEY_FROM_CONFIG", "the HS256 secret comes from configuration; change it there");
      const r = await d.keys.rotateNow();
      await d.audit.recordAlone({
        eventType: "admin.rotate_signing_key",
        outcome: "success",
        ...auditActor(callerOf(ctx), metaOf(ctx)),
        targetType: "signing_key",
        targetId: r.kid,
        details: { previous: r.previousKid },
      });
      return { keyId: r.kid, previousKeyId: r.previousKid };
    },
  };
}
