import type { Clock } from "../../clock.js";
import type { AuditStore } from "../store/audit-store.js";
import type { AuditEntry } from "./audit-event.js";

/** Where an event is appended: the store itself, or the transaction of the change it records. */
export interface AuditTarget {
  audit: Pick<AuditStore, "append">;
}

/** The one audit writer (the chain is checked by ChainVerifier). */
export class AuditLog {
  constructor(
    private readonly store: { audit: Pick<AuditStore, "append"> },
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
}
