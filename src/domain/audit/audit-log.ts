import type { Clock } from "../../clock.js";
import type { AuditStore } from "../store/audit-store.js";
import { chainHash, GENESIS_HASH, type AuditEntry } from "./audit-event.js";

export interface ChainReport {
  intact: boolean;
  checked: number;
  firstBrokenSequence: number;
  problem: string;
}

/** Where an event is appended: the store itself, or the transaction of the change it records. */
export interface AuditTarget {
  audit: Pick<AuditStore, "append">;
}

/** The one audit writer and the chain verifier. */
export class AuditLog {
  constructor(
    private readonly store: { audit: AuditStore },
    private readonly clock: Clock,
  ) {}

  /** Records inside the caller's transaction, so the event and the change commit together. */
  record(tx: AuditTarget, entry: AuditEntry): Promise<void> {
    return tx.audit.append(entry, this.clock.now());
  }

  /** Records on its own, for events with no other write (failed sign-ins); one statement is its own transaction. */
  recordAlone(entry: AuditEntry): Promise<void> {
    return this.store.audit.append(entry, this.clock.now());
  }

  async verifyChain(batchSize = 1000): Promise<ChainReport> {
    let prevHash = GENESIS_HASH;
    let lastSequence = 0;
    let checked = 0;
    const broken = (sequence: number, problem: string): ChainReport => ({ intact: false, checked, firstBrokenSequence: sequence, problem });
    for (;;) {
      const rows = await this.store.audit.batchAfter(lastSequence, batchSize);
      for (const row of rows) {
        if (row.prevHash !== prevHash) return broken(row.sequence, "previous-link hash does not match the event before it (an event was removed or changed)");
        if (chainHash(row) !== row.hash) return broken(row.sequence, "event content does not match its hash (the event was edited)");
        prevHash = row.hash;
        lastSequence = row.sequence;
        checked++;
      }
      if (rows.length < batchSize) break;
    }
    const head = await this.store.audit.head();
    if (head && (head.sequence !== lastSequence || head.hash !== prevHash))
      return broken(lastSequence + 1, "the chain ends before its recorded head (events were removed from the end)");
    return { intact: true, checked, firstBrokenSequence: 0, problem: "" };
  }
}
