import type { ServiceImpl } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AuditService, Outcome } from "../../gen/warden/audit/v1/audit_service_pb.js";
import type { Db } from "../db/client.js";
import type { AuditRepository } from "../db/repositories/audit-repository.js";
import type { AuditLog } from "../domain/audit/audit-log.js";
import { decodePageToken, pageOf, pageSize } from "../domain/pagination.js";
import { auditToProto } from "./converters.js";

const sequenceCursor = (row: { sequence: number }) => ({ s: row.sequence });

export function auditHandlers(db: Db, repo: AuditRepository, log: AuditLog): ServiceImpl<typeof AuditService> {
  return {
    async listAuditLogs(req) {
      const size = pageSize(req.pageSize);
      const cursor = decodePageToken<{ s: number }>(req.pageToken, ["s"]);
      const page = pageOf(await repo.listNewestFirst(db, size + 1, cursor?.s), size, sequenceCursor);
      return { events: page.items.map(auditToProto), nextPageToken: page.nextPageToken };
    },
    async queryAuditEvents(req) {
      const size = pageSize(req.pageSize);
      const cursor = decodePageToken<{ s: number }>(req.pageToken, ["s"]);
      const rows = await repo.query(db, {
        start: req.startTime ? timestampDate(req.startTime) : undefined,
        end: req.endTime ? timestampDate(req.endTime) : undefined,
        eventTypes: req.eventTypes,
        actorId: req.actorId || undefined,
        targetId: req.targetId || undefined,
        outcome: req.outcome === Outcome.SUCCESS ? "success" : req.outcome === Outcome.FAILURE ? "failure" : undefined,
        afterSequence: cursor?.s,
        limit: size + 1,
      });
      const page = pageOf(rows, size, sequenceCursor);
      return { events: page.items.map(auditToProto), nextPageToken: page.nextPageToken };
    },
    async verifyAuditChain() {
      const r = await log.verifyChain();
      return { intact: r.intact, checkedEvents: BigInt(r.checked), firstBrokenSequence: BigInt(r.firstBrokenSequence), problem: r.problem };
    },
  };
}
