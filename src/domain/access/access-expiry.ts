import type { Clock } from "../../clock.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { AccessRequestStore } from "../store/access-request-store.js";
import type { AuditStore } from "../store/audit-store.js";
import type { Ports } from "../store/transactional.js";

export interface AccessExpiryDeps {
  store: Ports<{ accessRequests: Pick<AccessRequestStore, "expireLapsed">; audit: AuditStore }>;
  clock: Clock;
  audit: AuditLog;
}

/** Requests expired per transaction; a sweep repeats until fewer are left. */
const BATCH = 500;

/**
 * Writes down that access ended. A grant stops counting when its time passes, judged by the
 * clock at every check (AccessGrants), so nothing waits for this; the sweep makes the row say
 * "expired" and writes one `access_request.expire` event per request, in the transaction that
 * changed its state. Instances sweep on their own timers; the conditional UPDATE gives each row
 * to one of them, so an expiry is audited once, not once per instance.
 */
export class AccessExpiry {
  constructor(private readonly d: AccessExpiryDeps) {}

  /** Expires what has lapsed by now; returns how many requests it expired. */
  async sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const now = this.d.clock.now();
      const expired = await this.d.store.transaction(async (tx) => {
        const rows = await tx.accessRequests.expireLapsed(now, BATCH);
        for (const row of rows)
          await this.d.audit.record(tx, {
            eventType: "access_request.expire",
            outcome: "success",
            actorType: "system",
            actorId: "access_expiry",
            targetType: "access_request",
            targetId: row.id,
            details: {
              previous_state: row.state,
              requester_id: row.userId,
              roles: row.roles.join(","),
              ...(row.nodeIds.length ? { node_ids: row.nodeIds.join(",") } : {}),
              ...(row.accessExpiresAt ? { access_expired_at: row.accessExpiresAt.toISOString() } : { pending_expired_at: row.pendingExpiresAt.toISOString() }),
            },
          });
        return rows.length;
      });
      total += expired;
      if (expired < BATCH) return total;
    }
  }
}
