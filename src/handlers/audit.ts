import type { ServiceImpl } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AuditService, Outcome } from "../../gen/warden/audit/v1/audit_service_pb.js";
import type { AuditLog } from "../domain/audit/audit-log.js";
import type { AuditQueries } from "../domain/audit/audit-queries.js";
import { auditToProto } from "./converters.js";

const OUTCOMES: Partial<Record<Outcome, "success" | "failure">> = { [Outcome.SUCCESS]: "success", [Outcome.FAILURE]: "failure" };

export function auditHandlers(queries: AuditQueries, log: AuditLog): ServiceImpl<typeof AuditService> {
  return {
    async listAuditLogs(req) {
      const page = await queries.newestFirst(req);
      return { events: page.items.map(auditToProto), nextPageToken: page.nextPageToken };
    },
    async queryAuditEvents(req) {
      const page = await queries.query(
        {
          start: req.startTime ? timestampDate(req.startTime) : undefined,
          end: req.endTime ? timestampDate(req.endTime) : undefined,
          eventTypes: req.eventTypes,
          actorId: req.actorId,
          targetId: req.targetId,
          outcome: OUTCOMES[req.outcome],
        },
        req,
      );
      return { events: page.items.map(auditToProto), nextPageToken: page.nextPageToken };
    },
    async verifyAuditChain() {
      const r = await log.verifyChain();
      return { intact: r.intact, checkedEvents: BigInt(r.checked), firstBrokenSequence: BigInt(r.firstBrokenSequence), problem: r.problem };
    },
  };
}
