import type { AuditChainKeys } from "../../crypto/audit-chain-keys.js";
import type { CheckpointSigner } from "../../crypto/checkpoint-signer.js";
import type { AuditRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import { GENESIS_HASH, UNKEYED_LEGACY } from "./audit-event.js";
import { archiveEventDetails } from "./archive-format.js";
import { linkProblem } from "./link-check.js";

/** Which check found the chain broken. */
export type ChainCheck = "link" | "content" | "key" | "sequence_gap" | "head" | "checkpoint" | "archive" | "format";

export interface ChainReport {
  intact: boolean;
  checked: number;
  checkedCheckpoints: number;
  firstBrokenSequence: number;
  failedCheck?: ChainCheck;
  problem: string;
}

export interface ChainVerifierDeps {
  store: { audit: Pick<AuditStore, "batchAfter" | "head" | "checkpointsAfter" | "newestArchive"> };
  keys: Pick<AuditChainKeys, "link">;
  signer: Pick<CheckpointSigner, "checker">;
}

interface Pin {
  number: number;
  hash: string;
}

class Broken extends Error {
  constructor(
    readonly sequence: number,
    readonly check: ChainCheck,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Checks the whole log: every signed checkpoint (its signature, its numbering), then every
 * event in sequence order (contiguous numbering, the link to the one before, its keyed hash)
 * against the checkpoints, and the head row. Rows marked "legacy" (written before the chain was
 * keyed) are checked the old way, plain SHA-256, and only before the first keyed row: the first
 * keyed link covers the last legacy hash, so that history cannot change either.
 */
export class ChainVerifier {
  constructor(private readonly d: ChainVerifierDeps) {}

  async verify(batchSize = 1000): Promise<ChainReport> {
    const counts = { events: 0, checkpoints: 0 };
    try {
      const pins = await this.checkpoints(batchSize, counts);
      await this.walk(pins, batchSize, counts);
    } catch (err) {
      if (!(err instanceof Broken)) throw err;
      const { events: checked, checkpoints: checkedCheckpoints } = counts;
      return { intact: false, checked, checkedCheckpoints, firstBrokenSequence: err.sequence, failedCheck: err.check, problem: err.message };
    }
    return { intact: true, checked: counts.events, checkedCheckpoints: counts.checkpoints, firstBrokenSequence: 0, problem: "" };
  }

  /** Every checkpoint's signature, numbering and order; what each vouches for, by sequence. */
  private async checkpoints(batchSize: number, counts: { checkpoints: number }): Promise<Map<number, Pin>> {
    const check = await this.d.signer.checker();
    const pins = new Map<number, Pin>();
    let number = 0;
    let sequence = 0;
    for (;;) {
      const batch = await this.d.store.audit.checkpointsAfter(number, batchSize);
      for (const row of batch) {
        const broken = (problem: string) => new Broken(row.sequence, "checkpoint", `checkpoint #${row.number}: ${problem}`);
        const result = await check(row.jws);
        if ("problem" in result) throw broken(result.problem);
        const { n, seq, hash, iat } = result.claims;
        // The columns are read too (listing, scheduling): they must say what the signature says.
        if (n !== row.number || seq !== row.sequence || hash !== row.hash || iat * 1000 !== row.signedAt.getTime() || result.kid !== row.kid)
          throw broken("the stored row differs from what its signature covers");
        if (n !== number + 1) throw new Broken(seq, "checkpoint", `checkpoint #${number + 1} is missing (checkpoints were removed)`);
        if (seq < sequence) throw broken(`vouches for sequence ${seq}, before checkpoint #${number}'s ${sequence} (the chain was rolled back)`);
        const pinned = pins.get(seq);
        if (pinned && pinned.hash !== hash) throw broken(`vouches for another hash at sequence ${seq} than checkpoint #${pinned.number}`);
        pins.set(seq, { number: n, hash });
        number = n;
        sequence = seq;
        counts.checkpoints++;
      }
      if (batch.length < batchSize) return pins;
    }
  }

  /**
   * Every event, oldest first, against the checkpoints; then the head. After an archive the
   * chain starts at the newest archive's head, and that archive must be vouched for by its
   * "audit.archive" event (a keyed link) in the live chain: without the key, a prefix cannot be
   * removed and passed off as archived.
   */
  private async walk(pins: Map<number, Pin>, batchSize: number, counts: { events: number }): Promise<void> {
    const archive = await this.d.store.audit.newestArchive();
    let prevHash = archive?.headHash ?? GENESIS_HASH;
    let last = archive?.headSequence ?? 0;
    let keyed = !!archive && archive.headKeyId !== UNKEYED_LEGACY;
    let vouched = !archive;
    const held = new Set<number>();
    const pinned = (sequence: number, hash: string) => {
      const pin = pins.get(sequence);
      if (!pin) return;
      if (pin.hash !== hash)
        throw new Broken(sequence, "checkpoint", `checkpoint #${pin.number} vouches for another hash at this sequence (the chain was rewritten)`);
      held.add(sequence);
    };
    if (archive) {
      // Checkpoints of archived events are checked with the archive file (VerifyAuditArchive).
      for (const sequence of pins.keys()) if (sequence < archive.headSequence) held.add(sequence);
      pinned(archive.headSequence, archive.headHash);
    } else pinned(0, GENESIS_HASH);
    for (;;) {
      const rows = await this.d.store.audit.batchAfter(last, batchSize);
      for (const row of rows) {
        if (row.keyId === UNKEYED_LEGACY) {
          if (keyed) throw new Broken(row.sequence, "key", "an unkeyed (legacy) link after keyed ones: the chain was rewritten without the key");
          // Legacy rows may skip numbers: before migration 0006 a rolled-back append used up its sequence.
        } else if (row.sequence !== last + 1) {
          throw new Broken(row.sequence, "sequence_gap", `sequence ${row.sequence} follows ${last}: events were removed`);
        }
        if (row.prevHash !== prevHash)
          throw new Broken(row.sequence, "link", "previous-link hash does not match the event before it (an event was removed or changed)");
        this.checkHash(row);
        if (!vouched && row.eventType === "audit.archive" && row.details.number === String(archive!.number)) {
          if (!sameDetails(row.details, archiveEventDetails(archive!)))
            throw new Broken(row.sequence, "archive", `the record of archive #${archive!.number} differs from its audit.archive event (it was changed)`);
          vouched = true;
        }
        pinned(row.sequence, row.hash);
        keyed ||= row.keyId !== UNKEYED_LEGACY;
        prevHash = row.hash;
        last = row.sequence;
        counts.events++;
      }
      if (rows.length < batchSize) break;
    }
    if (!vouched)
      throw new Broken(
        archive!.headSequence + 1,
        "archive",
        `archive #${archive!.number} has no audit.archive event in the live chain (the archive record was forged, or events were removed)`,
      );
    const head = await this.d.store.audit.head();
    if (!head) throw new Broken(last + 1, "head", "the head row is missing (appends would be lost)");
    if (head.sequence !== last || head.hash !== prevHash)
      throw new Broken(last + 1, "head", "the chain ends before its recorded head (events were removed from the end)");
    for (const [sequence, pin] of pins)
      if (!held.has(sequence))
        throw new Broken(
          sequence,
          "checkpoint",
          `checkpoint #${pin.number} vouches for sequence ${sequence}, which the chain does not hold (events were removed)`,
        );
  }

  private checkHash(row: AuditRow): void {
    const bad = linkProblem(row, this.d.keys);
    if (bad) throw new Broken(row.sequence, bad.check, bad.problem);
  }
}

function sameDetails(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(b);
  return Object.keys(a).length === keys.length && keys.every((k) => a[k] === b[k]);
}
