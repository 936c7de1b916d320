import type { Clock } from "../../clock.js";
import type { AuditChainKeys } from "../../crypto/audit-chain-keys.js";
import type { CheckpointSigner } from "../../crypto/checkpoint-signer.js";
import { DomainError, invalidArgument } from "../errors.js";
import type { AuditRow } from "../records.js";
import type { AuditArchive, AuditStore } from "../store/audit-store.js";
import type { Ports } from "../store/transactional.js";
import { GENESIS_HASH } from "./audit-event.js";
import type { AuditLog } from "./audit-log.js";
import { archiveEventDetails, buildArchive, eventLine, type ArchiveLink } from "./archive-format.js";
import { brokenReport, checkArchiveText } from "./archive-verifier.js";

/** Events per call at most, and per read while scanning. */
export const MAX_ARCHIVE_EVENTS = 10_000;
const READ_BATCH = 1_000;

export interface ArchiveRequest {
  start?: Date;
  end: Date;
  /** 0: MAX_ARCHIVE_EVENTS. */
  maxEvents: number;
  /** Empty: export only. */
  confirmSha256: string;
}

export interface ArchiveResult {
  text: string;
  sha256: string;
  firstSequence: number;
  lastSequence: number;
  headHash: string;
  eventCount: number;
  checkpointCount: number;
  deleted: boolean;
  more: boolean;
}

export interface AuditArchiverDeps {
  store: Ports<{
    audit: Pick<AuditStore, "newestArchive" | "batchAfter" | "firstBefore" | "checkpointsWithin" | "lockHead" | "deleteArchived" | "insertArchive" | "append">;
  }>;
  audit: Pick<AuditLog, "record">;
  keys: Pick<AuditChainKeys, "link">;
  signer: Pick<CheckpointSigner, "checker">;
  clock: Clock;
  /** An archive stays under this many bytes (it travels in one message). */
  maxBytes: number;
}

type Actor = { actorType: string; actorId: string; clientIp: string; requestId: string };

const notPrefix = (why: string) =>
  new DomainError("failed_precondition", "AUDIT_ARCHIVE_NOT_PREFIX", `the range is not the oldest part of the live chain: ${why}`);

/**
 * ArchiveAuditEvents. An archive is always a prefix of the live chain (every event up to a
 * sequence), so the live chain stays verifiable from the archive's head. Each call builds the
 * file and checks it as VerifyAuditArchive would before answering. Deleting is a second call
 * naming the SHA-256 of the file the first answered: the caller proves it holds the archive
 * before the events leave the database (an answer lost on the way loses nothing).
 */
export class AuditArchiver {
  constructor(private readonly d: AuditArchiverDeps) {}

  async archive(req: ArchiveRequest, actor: Actor): Promise<ArchiveResult> {
    if (req.start && req.start >= req.end) throw invalidArgument("start_time", "must be before end_time");
    const newest = await this.d.store.audit.newestArchive();
    const after: ArchiveLink = newest ? { sequence: newest.headSequence, hash: newest.headHash } : { sequence: 0, hash: GENESIS_HASH };
    const { rows, more } = await this.prefix(after.sequence, req);
    const checkpoints = await this.d.store.audit.checkpointsWithin(after.sequence, rows.at(-1)!.sequence);
    const file = buildArchive(after, rows, checkpoints);
    const counts = { events: 0, checkpoints: 0 };
    try {
      await checkArchiveText(file.text, this.d.keys, await this.d.signer.checker(), counts);
    } catch (err) {
      const r = brokenReport(err, counts);
      throw new DomainError(
        "failed_precondition",
        "AUDIT_CHAIN_BROKEN",
        `the range does not verify at sequence ${r.firstBrokenSequence} (${r.failedCheck}): ${r.problem}; nothing was deleted`,
      );
    }
    const result: ArchiveResult = {
      text: file.text,
      sha256: file.sha256,
      firstSequence: rows[0]!.sequence,
      lastSequence: file.head.sequence,
      headHash: file.head.hash,
      eventCount: rows.length,
      checkpointCount: checkpoints.length,
      deleted: false,
      more,
    };
    if (!req.confirmSha256) return result;
    if (req.confirmSha256 !== file.sha256)
      throw new DomainError(
        "failed_precondition",
        "AUDIT_ARCHIVE_MISMATCH",
        "confirm_sha256 is not the SHA-256 of the archive this range gives now; nothing was deleted",
      );
    await this.remove(newest, after, rows, { ...file.head, sha256: file.sha256 }, actor);
    return { ...result, deleted: true };
  }

  /**
   * The live events from the oldest on whose time is before `end`, up to the limits; refused
   * when they are not a prefix (`start` after the oldest event, or an event before `end` after
   * one that is not).
   */
  private async prefix(afterSequence: number, req: ArchiveRequest): Promise<{ rows: AuditRow[]; more: boolean }> {
    const limit = Math.min(req.maxEvents || MAX_ARCHIVE_EVENTS, MAX_ARCHIVE_EVENTS);
    const rows: AuditRow[] = [];
    let bytes = 0;
    let cursor = afterSequence;
    let boundary: AuditRow | undefined;
    let more = false;
    scan: for (;;) {
      const batch = await this.d.store.audit.batchAfter(cursor, READ_BATCH);
      const oldest = batch[0];
      if (cursor === afterSequence) {
        if (!oldest) throw new DomainError("failed_precondition", "AUDIT_ARCHIVE_EMPTY", "the live chain holds no event");
        if (req.start && oldest.occurredAt < req.start) throw notPrefix(`start_time is after the oldest live event (sequence ${oldest.sequence})`);
      }
      for (const row of batch) {
        if (row.occurredAt >= req.end) {
          boundary = row;
          break scan;
        }
        // Headroom for the header, checkpoints and footer.
        const size = Buffer.byteLength(eventLine(row)) + 1;
        if (rows.length >= limit || (rows.length > 0 && bytes + size > this.d.maxBytes * 0.75 - 64 * 1024)) {
          more = true;
          break scan;
        }
        rows.push(row);
        bytes += size;
      }
      if (batch.length < READ_BATCH) break;
      cursor = batch.at(-1)!.sequence;
    }
    if (boundary) {
      const stray = await this.d.store.audit.firstBefore(req.end, boundary.sequence);
      if (stray !== undefined) throw notPrefix(`event ${stray} is before end_time but follows event ${boundary.sequence}, which is not`);
    }
    if (rows.length === 0) throw new DomainError("failed_precondition", "AUDIT_ARCHIVE_EMPTY", "no live event lies in the time range");
    return { rows, more };
  }

  /**
   * One transaction, holding the chain head (no append commits meanwhile): the verified rows
   * are deleted (and must be exactly those verified), the archive head recorded, and an
   * "audit.archive" event repeating it appended: that keyed link is what vouches for the record.
   */
  private async remove(
    newest: AuditArchive | undefined,
    after: ArchiveLink,
    rows: AuditRow[],
    head: { sequence: number; hash: string; keyId: string; sha256: string },
    actor: Actor,
  ): Promise<void> {
    await this.d.store.transaction(async (tx) => {
      await tx.audit.lockHead();
      const current = await tx.audit.newestArchive();
      if ((current?.number ?? 0) !== (newest?.number ?? 0))
        throw new DomainError("failed_precondition", "AUDIT_ARCHIVE_MISMATCH", "another archive was made meanwhile; export again");
      const deleted = await tx.audit.deleteArchived(after.sequence, head.sequence);
      if (deleted.length !== rows.length || deleted.some((d, i) => d.sequence !== rows[i]!.sequence || d.hash !== rows[i]!.hash))
        throw new DomainError("failed_precondition", "AUDIT_CHAIN_BROKEN", "the range changed after it was verified; nothing was deleted");
      const archive: AuditArchive = {
        number: (newest?.number ?? 0) + 1,
        firstSequence: rows[0]!.sequence,
        headSequence: head.sequence,
        headHash: head.hash,
        headKeyId: head.keyId,
        eventCount: rows.length,
        sha256: head.sha256,
        archivedAt: this.d.clock.now(),
      };
      await tx.audit.insertArchive(archive);
      await this.d.audit.record(tx, {
        eventType: "audit.archive",
        outcome: "success",
        ...actor,
        targetType: "audit_archive",
        targetId: String(archive.number),
        details: archiveEventDetails(archive),
      });
    });
  }
}
