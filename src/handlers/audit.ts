import type { ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditCheckpointSchema, AuditService, ChainCheck, Outcome, SshEventKind, type AuditCheckpoint } from "../../gen/warden/audit/v1/audit_service_pb.js";
import type { AgentAuditEvents, SshEventType } from "../domain/audit/agent-audit-events.js";
import { auditActor } from "../domain/audit/audit-actor.js";
import type { AuditArchiver } from "../domain/audit/audit-archiver.js";
import type { ArchiveVerifier } from "../domain/audit/archive-verifier.js";
import type { AuditCheckpoints } from "../domain/audit/audit-checkpoints.js";
import type { AuditQueries } from "../domain/audit/audit-queries.js";
import type { ChainCheck as Check, ChainVerifier } from "../domain/audit/chain-verifier.js";
import { invalidArgument } from "../domain/errors.js";
import type { AuditCheckpoint as CheckpointRecord } from "../domain/store/audit-store.js";
import { agentOf, metaOf, principalOf } from "./call-context.js";
import { auditToProto } from "./converters.js";

const OUTCOMES: Partial<Record<Outcome, "success" | "failure">> = { [Outcome.SUCCESS]: "success", [Outcome.FAILURE]: "failure" };

const CHECKS: Record<Check, ChainCheck> = {
  link: ChainCheck.LINK,
  content: ChainCheck.CONTENT,
  key: ChainCheck.KEY,
  sequence_gap: ChainCheck.SEQUENCE_GAP,
  head: ChainCheck.HEAD,
  checkpoint: ChainCheck.CHECKPOINT,
  archive: ChainCheck.ARCHIVE,
  format: ChainCheck.FORMAT,
};

const SSH_KINDS: Partial<Record<SshEventKind, SshEventType>> = {
  [SshEventKind.SESSION_START]: "ssh.session.start",
  [SshEventKind.SESSION_END]: "ssh.session.end",
  [SshEventKind.EXEC]: "ssh.exec",
  [SshEventKind.PORT_FORWARD]: "ssh.port_forward",
  [SshEventKind.FILE_TRANSFER]: "ssh.file_transfer",
};

/** What AuditService needs besides reading: the verifier, checkpoints, agents' events and archiving. */
export interface AuditParts {
  verifier: ChainVerifier;
  checkpoints: AuditCheckpoints;
  agentEvents: AgentAuditEvents;
  archiver: AuditArchiver;
  archiveVerifier: ArchiveVerifier;
}

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

export function auditHandlers(queries: AuditQueries, parts: AuditParts): ServiceImpl<typeof AuditService> {
  const { verifier, checkpoints } = parts;
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
          userId: req.userId,
          nodeId: req.nodeId,
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
    async emitAuditEvent(req, ctx) {
      const e = req.event!;
      const eventType = SSH_KINDS[e.kind];
      const outcome = OUTCOMES[e.outcome];
      // protovalidate refuses these first; the checks keep the mapping total.
      if (!eventType) throw invalidArgument("event.kind", "must be a defined kind");
      if (!outcome) throw invalidArgument("event.outcome", "must be SUCCESS or FAILURE");
      await parts.agentEvents.emit(
        agentOf(ctx),
        { eventType, outcome, user: e.user, login: e.login, sessionId: e.sessionId, occurredAt: timestampDate(e.occurredAt!), metadata: e.metadata },
        metaOf(ctx),
      );
      return {};
    },
    async archiveAuditEvents(req, ctx) {
      const r = await parts.archiver.archive(
        {
          start: req.startTime ? timestampDate(req.startTime) : undefined,
          end: timestampDate(req.endTime!),
          maxEvents: req.maxEvents,
          confirmSha256: req.confirmSha256,
        },
        auditActor(principalOf(ctx), metaOf(ctx)),
      );
      return {
        archive: r.text,
        sha256: r.sha256,
        firstSequence: BigInt(r.firstSequence),
        lastSequence: BigInt(r.lastSequence),
        headHash: r.headHash,
        eventCount: BigInt(r.eventCount),
        checkpointCount: BigInt(r.checkpointCount),
        deleted: r.deleted,
        more: r.more,
      };
    },
    async verifyAuditArchive(req) {
      const r = await parts.archiveVerifier.verify(req.archive);
      return {
        intact: r.intact,
        checkedEvents: BigInt(r.checkedEvents),
        checkedCheckpoints: BigInt(r.checkedCheckpoints),
        recorded: r.recorded,
        firstBrokenSequence: BigInt(r.firstBrokenSequence),
        problem: r.problem,
        failedCheck: r.failedCheck ? CHECKS[r.failedCheck] : ChainCheck.UNSPECIFIED,
      };
    },
  };
}
