import type { AuditEntry } from "../domain/audit/audit-event.js";
import { isInvalidData } from "./faults.js";
import { AuditRepository, MAX_APPEND_BATCH } from "./repositories/audit-repository.js";

interface Waiting {
  item: { entry: AuditEntry; occurredAt: Date };
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The audit store outside transactions, with group commit. Every link locks the chain head
 * until it commits, so appends made one statement each queue behind each other's commit (the
 * WAL flush), and that queue, not the CPU, bounded audited calls such as IssueUserCerts. Here
 * an append made while another is in flight waits for it, then goes with every other waiting
 * append in one statement: one lock and one commit for the batch. An idle store writes at once.
 * Each caller's promise still settles only once its own link has committed.
 */
export class GroupCommittedAuditRepository extends AuditRepository {
  private waiting: Waiting[] = [];
  private writing = false;

  override append(entry: AuditEntry, occurredAt: Date): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ item: { entry, occurredAt }, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.waiting.length > 0) await this.write(this.waiting.splice(0, MAX_APPEND_BATCH));
    } finally {
      this.writing = false;
    }
  }

  private async write(batch: Waiting[]): Promise<void> {
    try {
      await (batch.length === 1 ? super.append(batch[0]!.item.entry, batch[0]!.item.occurredAt) : this.appendMany(batch.map((w) => w.item)));
      for (const w of batch) w.resolve();
    } catch (err) {
      // The database refused a value (NUL in text, say): the batch did not commit. Only the
      // entry that carries it may fail, so each goes again alone.
      if (batch.length > 1 && isInvalidData(err)) {
        for (const w of batch) await this.write([w]);
        return;
      }
      for (const w of batch) w.reject(err);
    }
  }
}
