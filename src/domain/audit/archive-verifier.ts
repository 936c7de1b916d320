import type { AuditChainKeys } from "../../crypto/audit-chain-keys.js";
import type { CheckpointSigner } from "../../crypto/checkpoint-signer.js";
import type { AuditStore } from "../store/audit-store.js";
import { GENESIS_HASH, UNKEYED_LEGACY } from "./audit-event.js";
import { ARCHIVE_FORMAT, sha256Hex, type ArchiveHead, type ArchiveLink } from "./archive-format.js";
import type { ChainCheck } from "./chain-verifier.js";
import { linkProblem, type StoredLink } from "./link-check.js";

export interface ArchiveReport {
  intact: boolean;
  checkedEvents: number;
  checkedCheckpoints: number;
  /** The server recorded this very file as archived (same head, range and SHA-256). */
  recorded: boolean;
  /** The first event that does not hold, or the 1-based line number for a format problem. */
  firstBrokenSequence: number;
  failedCheck?: ChainCheck;
  problem: string;
}

export interface ArchiveVerifierDeps {
  store: { audit: Pick<AuditStore, "archiveByHead" | "archiveByNumber"> };
  keys: Pick<AuditChainKeys, "link">;
  signer: Pick<CheckpointSigner, "checker">;
}

type CheckJws = Awaited<ReturnType<CheckpointSigner["checker"]>>;

class Broken extends Error {
  constructor(
    readonly at: number,
    readonly check: ChainCheck,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

const HEX64 = /^[0-9a-f]{64}$/;
const isInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isStr = (v: unknown): v is string => typeof v === "string";
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** The lines of an archive, parsed; a malformed line is a format problem at its number. */
function parseLines(text: string): Json[] {
  if (!text.endsWith("\n")) throw new Broken(text.split("\n").length, "format", "the archive does not end with a newline (it was cut short)");
  return text
    .slice(0, -1)
    .split("\n")
    .map((line, i) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new Broken(i + 1, "format", `line ${i + 1} is not JSON`);
      }
      if (!isObj(value) || !isStr(value.type)) throw new Broken(i + 1, "format", `line ${i + 1} is not an archive record`);
      return value;
    });
}

/** An event line as the link it stores, or a format problem. */
function eventOf(e: Json, line: number): StoredLink {
  const strings = [
    "id",
    "occurred_at",
    "event_type",
    "outcome",
    "actor_type",
    "actor_id",
    "target_type",
    "target_id",
    "client_ip",
    "request_id",
    "prev_hash",
    "hash",
    "key_id",
  ];
  const details = e.details;
  const at = isStr(e.occurred_at) ? new Date(e.occurred_at) : undefined;
  if (
    !isInt(e.sequence) ||
    strings.some((k) => !isStr(e[k])) ||
    !isObj(details) ||
    Object.values(details).some((v) => !isStr(v)) ||
    !at ||
    Number.isNaN(at.getTime()) ||
    at.toISOString() !== e.occurred_at
  )
    throw new Broken(line, "format", `line ${line}: an event line with a missing or mistyped field`);
  return {
    sequence: e.sequence,
    occurredAt: at,
    eventType: e.event_type as string,
    outcome: e.outcome as string,
    actorType: e.actor_type as string,
    actorId: e.actor_id as string,
    targetType: e.target_type as string,
    targetId: e.target_id as string,
    clientIp: e.client_ip as string,
    requestId: e.request_id as string,
    details: details as Record<string, string>,
    prevHash: e.prev_hash as string,
    hash: e.hash as string,
    keyId: e.key_id as string,
  };
}

/**
 * Checks an archive file on its own: its layout, every link from the header's "after" link
 * (contiguous sequences, previous hashes, keyed HMACs), every checkpoint's signature and that
 * the event it names holds its hash, and that header and footer agree with the events.
 * Answers the head and where it starts.
 */
export async function checkArchiveText(
  text: string,
  keys: Pick<AuditChainKeys, "link">,
  check: CheckJws,
  counts = { events: 0, checkpoints: 0 },
): Promise<{ after: ArchiveLink; head: ArchiveHead; firstSequence: number }> {
  const lines = parseLines(text);
  const header = lines[0]!;
  const footer = lines.at(-1)!;
  const after = header.after;
  if (header.type !== "header" || header.format !== ARCHIVE_FORMAT || !isObj(after) || !isInt(after.sequence) || !isStr(after.hash) || !HEX64.test(after.hash))
    throw new Broken(1, "format", `line 1 is not an archive header (${ARCHIVE_FORMAT})`);
  if (lines.length < 3 || footer.type !== "footer") throw new Broken(lines.length, "format", "the last line is not the footer (the archive was cut short)");

  let prevHash = after.hash;
  let last = after.sequence;
  let keyed = false;
  let i = 1;
  const hashes = new Map<number, string>();
  let first: StoredLink | undefined;
  let lastEvent: StoredLink | undefined;
  for (; i < lines.length - 1 && lines[i]!.type === "event"; i++) {
    const row = eventOf(lines[i]!, i + 1);
    if (row.keyId === UNKEYED_LEGACY) {
      if (keyed) throw new Broken(row.sequence, "key", "an unkeyed (legacy) link after keyed ones: the chain was rewritten without the key");
      if (row.sequence <= last) throw new Broken(row.sequence, "sequence_gap", `sequence ${row.sequence} follows ${last}: events were reordered`);
    } else if (row.sequence !== last + 1) {
      throw new Broken(row.sequence, "sequence_gap", `sequence ${row.sequence} follows ${last}: events were removed or reordered`);
    }
    if (row.prevHash !== prevHash)
      throw new Broken(row.sequence, "link", "previous-link hash does not match the event before it (an event was removed or changed)");
    const bad = linkProblem(row, keys);
    if (bad) throw new Broken(row.sequence, bad.check, bad.problem);
    keyed ||= row.keyId !== UNKEYED_LEGACY;
    hashes.set(row.sequence, row.hash);
    first ??= row;
    lastEvent = row;
    prevHash = row.hash;
    last = row.sequence;
    counts.events++;
  }
  if (!first || !lastEvent) throw new Broken(2, "format", "the archive holds no event");

  let number = 0;
  for (; i < lines.length - 1; i++) {
    const c = lines[i]!;
    const at = i + 1;
    if (c.type !== "checkpoint" || !isInt(c.number) || !isInt(c.sequence) || !isStr(c.hash) || !isStr(c.kid) || !isStr(c.signed_at) || !isStr(c.jws))
      throw new Broken(at, "format", `line ${at}: expected a checkpoint line (events come first, then checkpoints, then the footer)`);
    const result = await check(c.jws);
    if ("problem" in result) throw new Broken(c.sequence, "checkpoint", `checkpoint #${c.number}: ${result.problem}`);
    const { n, seq, hash, iat } = result.claims;
    if (n !== c.number || seq !== c.sequence || hash !== c.hash || new Date(iat * 1000).toISOString() !== c.signed_at || result.kid !== c.kid)
      throw new Broken(c.sequence, "checkpoint", `checkpoint #${c.number}: the line differs from what its signature covers`);
    if (n <= number) throw new Broken(seq, "checkpoint", `checkpoint #${n} comes after #${number} (checkpoints were reordered)`);
    if (hashes.get(seq) !== hash) throw new Broken(seq, "checkpoint", `checkpoint #${n} vouches for a hash at sequence ${seq} that the archive does not hold`);
    number = n;
    counts.checkpoints++;
  }

  const head = footer.head;
  const sameCounts = (r: Json) => r.events === counts.events && r.checkpoints === counts.checkpoints;
  if (
    header.first_sequence !== first.sequence ||
    header.last_sequence !== lastEvent.sequence ||
    header.first_time !== first.occurredAt.toISOString() ||
    header.last_time !== lastEvent.occurredAt.toISOString() ||
    !sameCounts(header)
  )
    throw new Broken(1, "format", "the header does not describe the archive's events");
  if (!isObj(head) || head.sequence !== lastEvent.sequence || head.hash !== lastEvent.hash || head.key_id !== lastEvent.keyId || !sameCounts(footer))
    throw new Broken(lines.length, "format", "the footer's head is not the archive's last event");
  return {
    after: { sequence: after.sequence, hash: after.hash },
    head: { sequence: lastEvent.sequence, hash: lastEvent.hash, keyId: lastEvent.keyId },
    firstSequence: first.sequence,
  };
}

/** A failed check as a report (other errors propagate). */
export function brokenReport(err: unknown, counts: { events: number; checkpoints: number }): ArchiveReport {
  if (!(err instanceof Broken)) throw err;
  return {
    intact: false,
    checkedEvents: counts.events,
    checkedCheckpoints: counts.checkpoints,
    recorded: false,
    firstBrokenSequence: err.at,
    failedCheck: err.check,
    problem: err.message,
  };
}

/**
 * VerifyAuditArchive: the file on its own (checkArchiveText), then, when the server recorded an
 * archive with this head, that it is that very file (range and SHA-256) and continues the
 * archive before it. An archive the server did not record (an export whose events are still
 * live) is reported intact but not recorded.
 */
export class ArchiveVerifier {
  constructor(private readonly d: ArchiveVerifierDeps) {}

  async verify(text: string): Promise<ArchiveReport> {
    const counts = { events: 0, checkpoints: 0 };
    try {
      const { after, head, firstSequence } = await checkArchiveText(text, this.d.keys, await this.d.signer.checker(), counts);
      const recorded = await this.d.store.audit.archiveByHead(head.sequence);
      if (recorded) {
        const mismatch = (what: string) => new Broken(head.sequence, "archive", `archive #${recorded.number} was recorded with another ${what}`);
        if (recorded.headHash !== head.hash) throw mismatch("head hash");
        if (recorded.firstSequence !== firstSequence || recorded.eventCount !== counts.events) throw mismatch("range");
        if (recorded.sha256 !== sha256Hex(text)) throw mismatch("SHA-256 (the file was changed)");
        const before = recorded.number > 1 ? await this.d.store.audit.archiveByNumber(recorded.number - 1) : undefined;
        const expected = before ? { sequence: before.headSequence, hash: before.headHash } : { sequence: 0, hash: GENESIS_HASH };
        if (after.sequence !== expected.sequence || after.hash !== expected.hash)
          throw new Broken(head.sequence, "archive", `archive #${recorded.number} does not continue from the archive before it`);
      }
      return { intact: true, checkedEvents: counts.events, checkedCheckpoints: counts.checkpoints, recorded: !!recorded, firstBrokenSequence: 0, problem: "" };
    } catch (err) {
      return brokenReport(err, counts);
    }
  }
}
