import type { SQL } from "drizzle-orm";
import type { Clock } from "../../clock.js";
import type { Db, DbOrTx } from "../../db/client.js";
import type { AuditRepository } from "../../db/repositories/audit-repository.js";
import type { AuditRow } from "../../db/schema/index.js";
import { chainHash, GENESIS_HASH, type AuditEntry } from "./audit-event.js";

export interface ChainReport {
  intact: boolean;
  checked: number;
  firstBrokenSequence: number;
  problem: string;
}

/** The one audit writer and the chain verifier. */
export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly repo: AuditRepository,
    private readonly clock: Clock,
  ) {}

  /** Records inside the caller's transaction, so the event and the change commit together. */
  record(tx: DbOrTx, entry: AuditEntry): Promise<void> {
    return this.repo.append(tx, entry, this.clock.now());
  }

  /**
   * Records in the same statement as the change it describes (`change`: CTEs from a
   * repository): atomic without a transaction, in one round trip. For hot paths like sign-in.
   */
  recordWith(db: DbOrTx, entry: AuditEntry, change: SQL): Promise<void> {
    return this.repo.append(db, entry, this.clock.now(), change);
  }

  /** Records on its own, for events with no other write (failed sign-ins); one statement is its own transaction. */
  recordAlone(entry: AuditEntry): Promise<void> {
    return this.repo.append(this.db, entry, this.clock.now());
  }

  async verifyChain(batchSize = 1000): Promise<ChainReport> {
    let prevHash = GENESIS_HASH;
    let lastSequence = 0;
    let checked = 0;
    const broken = (sequence: number, problem: string): ChainReport => ({ intact: false, checked, firstBrokenSequence: sequence, problem });
    for (;;) {
      const rows = await this.repo.batchAfter(this.db, lastSequence, batchSize);
      for (const row of rows) {
        if (row.prevHash !== prevHash) return broken(row.sequence, "previous-link hash does not match the event before it (an event was removed or changed)");
        if (chainHash(row) !== row.hash) return broken(row.sequence, "event content does not match its hash (the event was edited)");
        prevHash = row.hash;
        lastSequence = row.sequence;
        checked++;
      }
      if (rows.length < batchSize) break;
    }
    const head = await this.repo.head(this.db);
    if (head && (head.sequence !== lastSequence || head.hash !== prevHash))
      return broken(lastSequence + 1, "the chain ends before its recorded head (events were removed from the end)");
    return { intact: true, checked, firstBrokenSequence: 0, problem: "" };
  }
}
