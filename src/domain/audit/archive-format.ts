import { createHash } from "node:crypto";
import type { AuditRow } from "../records.js";
import type { AuditArchive, AuditCheckpoint } from "../store/audit-store.js";

/**
 * The archive file ArchiveAuditEvents answers: JSON lines, each ending in "\n".
 *   {"type":"header", "format", "after": {sequence, hash}, first/last sequence and time, counts}
 *   {"type":"event", every stored field and its link: prev_hash, hash, key_id}   (sequence order)
 *   {"type":"checkpoint", number, sequence, hash, kid, signed_at, jws}            (number order)
 *   {"type":"footer", "head": {sequence, hash, key_id}, counts}
 * "after" is the link the first event continues (the previous archive's head, or the genesis
 * hash at 0); the footer's head is where the live chain continues. The same range always gives
 * the same bytes, so a hash the caller computed over a stored copy names it.
 */
export const ARCHIVE_FORMAT = "warden-audit-archive/1";

export interface ArchiveLink {
  sequence: number;
  hash: string;
}

export interface ArchiveHead extends ArchiveLink {
  keyId: string;
}

export function eventLine(row: AuditRow): string {
  return JSON.stringify({
    type: "event",
    sequence: row.sequence,
    id: row.id,
    occurred_at: row.occurredAt.toISOString(),
    event_type: row.eventType,
    outcome: row.outcome,
    actor_type: row.actorType,
    actor_id: row.actorId,
    target_type: row.targetType,
    target_id: row.targetId,
    client_ip: row.clientIp,
    request_id: row.requestId,
    details: row.details,
    prev_hash: row.prevHash,
    hash: row.hash,
    key_id: row.keyId,
  });
}

export function checkpointLine(c: AuditCheckpoint): string {
  return JSON.stringify({
    type: "checkpoint",
    number: c.number,
    sequence: c.sequence,
    hash: c.hash,
    kid: c.kid,
    signed_at: c.signedAt.toISOString(),
    jws: c.jws,
  });
}

/** The file for events `rows` (non-empty, in sequence order) continuing `after`, with the checkpoints within them. */
export function buildArchive(after: ArchiveLink, rows: AuditRow[], checkpoints: AuditCheckpoint[]): { text: string; sha256: string; head: ArchiveHead } {
  const first = rows[0]!;
  const last = rows.at(-1)!;
  const counts = { events: rows.length, checkpoints: checkpoints.length };
  const header = {
    type: "header",
    format: ARCHIVE_FORMAT,
    after: { sequence: after.sequence, hash: after.hash },
    first_sequence: first.sequence,
    last_sequence: last.sequence,
    first_time: first.occurredAt.toISOString(),
    last_time: last.occurredAt.toISOString(),
    ...counts,
  };
  const head = { sequence: last.sequence, hash: last.hash, keyId: last.keyId };
  const footer = { type: "footer", head: { sequence: head.sequence, hash: head.hash, key_id: head.keyId }, ...counts };
  const lines = [JSON.stringify(header), ...rows.map(eventLine), ...checkpoints.map(checkpointLine), JSON.stringify(footer)];
  const text = lines.join("\n") + "\n";
  return { text, sha256: sha256Hex(text), head };
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** What the "audit.archive" event records about an archive: the stored row, field for field. */
export function archiveEventDetails(a: AuditArchive): Record<string, string> {
  return {
    number: String(a.number),
    first_sequence: String(a.firstSequence),
    head_sequence: String(a.headSequence),
    head_hash: a.headHash,
    head_key_id: a.headKeyId,
    events: String(a.eventCount),
    sha256: a.sha256,
  };
}
