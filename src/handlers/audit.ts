import type { ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditCheckpointSchema, AuditService, ChainCheck, Outcome, type AuditCheckpoint } from "../../gen/warden/audit/v1/audit_service_pb.js";
import type { AuditCheckpoints } from "../domain/audit/audit-checkpoints.js";
import type { AuditQueries } from "../domain/audit/audit-queries.js";
import type { ChainCheck as Check, ChainVerifier } from "../domain/audit/chain-verifier.js";
import type { AuditCheckpoint as CheckpointRecord } from "../domain/store/audit-store.js";
import { auditToProto } from "./converters.js";

const OUTCOMES: Partial<Record<Outcome, "success" | "failure">> = { [Outcome.SUCCESS]: "success", [Outcome.FAILURE]: "failure" };

const CHECKS: Record<Check, ChainCheck> = {
  link: ChainCheck.LINK,
  content: ChainCheck.CONTENT,
  key: ChainCheck.KEY,
  sequence_gap: ChainCheck.SEQUENCE_GAP,
  head: ChainCheck.HEAD,
  checkpoint: ChainCheck.CHECKPOINT,
};

function checkpointToProto(c: CheckpointRecord): AuditCheckpoint {
  return create(AuditCheckpointSchema, {
    number: BigInt(c.number),
    sequence: BigInt(c.sequence),
    hash: c.hash,
    signedTime: timestampFromDate(c.signedAt),
    kid: c.kid,
    jws: c.jws,
  });
}

export function auditHandlers(queries: AuditQueries, verifier: ChainVerifier, checkpoints: AuditCheckpoints): ServiceImpl<typeof AuditService> {
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
      const r = await verifier.verify();
      return {
        intact: r.intact,
        checkedEvents: BigInt(r.checked),
        firstBrokenSequence: BigInt(r.firstBrokenSequence),
        problem: r.problem,
        failedCheck: r.failedCheck ? CHECKS[r.failedCheck] : ChainCheck.UNSPECIFIED,
        checkedCheckpoints: BigInt(r.checkedCheckpoints),
      };
    },
    async createAuditCheckpoint() {
      return { checkpoint: checkpointToProto(await checkpoints.createNow()) };
    },
    async getAuditCheckpoint() {
      return { checkpoint: checkpointToProto(await checkpoints.newest()) };
    },
    async listAuditCheckpoints(req) {
      const page = await checkpoints.list(req);
      return { checkpoints: page.items.map(checkpointToProto), nextPageToken: page.nextPageToken };
    },
  };
}
