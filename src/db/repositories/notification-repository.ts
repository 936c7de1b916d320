import { and, asc, desc, eq, inArray, lt, lte, or, sql } from "drizzle-orm";
import type { LinkKeyPads } from "../../domain/audit/audit-event.js";
import type { AttemptResult, ClaimedDelivery, NotificationChannelRecord, NotificationStore } from "../../domain/notification/notification-store.js";
import type { AuditStore } from "../../domain/store/audit-store.js";
import type { Ports } from "../../domain/store/transactional.js";
import type { Db, DbOrTx } from "../client.js";
import { notificationChannels as channels, notificationDeliveries as deliveries } from "../schema/index.js";
import { AuditRepository } from "./audit-repository.js";

export class NotificationRepository implements NotificationStore {
  constructor(private readonly db: DbOrTx) {}

  async createChannel(row: Omit<NotificationChannelRecord, "id">): Promise<NotificationChannelRecord> {
    const [created] = await this.db.insert(channels).values(row).returning();
    return created!;
  }

  async listChannels(limit: number, after?: { createdAt: Date; id: string }): Promise<NotificationChannelRecord[]> {
    const older = after ? or(lt(channels.createdAt, after.createdAt), and(eq(channels.createdAt, after.createdAt), lt(channels.id, after.id))) : undefined;
    return this.db.select().from(channels).where(older).orderBy(desc(channels.createdAt), desc(channels.id)).limit(limit);
  }

  async disableChannel(id: string, now: Date): Promise<NotificationChannelRecord | undefined> {
    const [row] = await this.db.update(channels).set({ disabled: true }).where(eq(channels.id, id)).returning();
    if (row)
      await this.db
        .update(deliveries)
        .set({ state: "failed", lastError: "channel disabled", finishedAt: now })
        .where(and(eq(deliveries.channelId, id), eq(deliveries.state, "pending")));
    return row;
  }

  async deleteChannel(id: string): Promise<NotificationChannelRecord | undefined> {
    const [row] = await this.db.delete(channels).where(eq(channels.id, id)).returning();
    return row;
  }

  async claimDue(now: Date, leaseUntil: Date, limit: number): Promise<ClaimedDelivery[]> {
    const dueNow = and(eq(deliveries.state, "pending"), lte(deliveries.nextAttemptAt, now), eq(channels.disabled, false));
    // Most polls find nothing: one plain read then, no transaction and no row locks.
    const any = await this.db.select({ id: deliveries.id }).from(deliveries).innerJoin(channels, eq(channels.id, deliveries.channelId)).where(dueNow).limit(1);
    if (any.length === 0) return [];
    const claim = async (tx: DbOrTx) => {
      const due = await tx
        .select({ id: deliveries.id })
        .from(deliveries)
        .innerJoin(channels, eq(channels.id, deliveries.channelId))
        .where(dueNow)
        .orderBy(asc(deliveries.nextAttemptAt))
        .limit(limit)
        .for("update", { of: deliveries, skipLocked: true });
      if (due.length === 0) return [];
      const claimed = await tx
        .update(deliveries)
        .set({ attempts: sql`${deliveries.attempts} + 1`, nextAttemptAt: leaseUntil })
        .where(
          inArray(
            deliveries.id,
            due.map((d) => d.id),
          ),
        )
        .returning({
          id: deliveries.id,
          channelId: deliveries.channelId,
          eventType: deliveries.eventType,
          payload: deliveries.payload,
          attempts: deliveries.attempts,
        });
      const targets = await tx
        .select({ id: channels.id, webhookUrl: channels.webhookUrl, secretSealed: channels.secretSealed })
        .from(channels)
        .where(inArray(channels.id, [...new Set(claimed.map((c) => c.channelId))]));
      const byId = new Map(targets.map((t) => [t.id, t]));
      return claimed.flatMap(({ channelId, ...c }) => {
        const target = byId.get(channelId);
        return target ? [{ ...c, webhookUrl: target.webhookUrl, secretSealed: target.secretSealed }] : [];
      });
    };
    // Its own transaction (a savepoint inside one): the row locks hold until the lease is written.
    return this.db.transaction(claim);
  }

  async markDelivered(id: string, result: AttemptResult, now: Date): Promise<void> {
    await this.db
      .update(deliveries)
      .set({ state: "delivered", lastStatus: result.status, lastError: result.error, finishedAt: now })
      .where(eq(deliveries.id, id));
  }

  async markRetry(id: string, result: AttemptResult, nextAttemptAt: Date): Promise<void> {
    await this.db
      .update(deliveries)
      .set({ lastStatus: result.status, lastError: result.error, nextAttemptAt })
      .where(and(eq(deliveries.id, id), eq(deliveries.state, "pending")));
  }

  async markFailed(id: string, result: AttemptResult, now: Date): Promise<void> {
    await this.db
      .update(deliveries)
      .set({ state: "failed", lastStatus: result.status, lastError: result.error, finishedAt: now })
      .where(and(eq(deliveries.id, id), eq(deliveries.state, "pending")));
  }

  async purgeFinished(before: Date): Promise<number> {
    const gone = await this.db.delete(deliveries).where(lt(deliveries.finishedAt, before)).returning({ id: deliveries.id });
    return gone.length;
  }
}

/**
 * The ports NotificationChannels takes: channels and the audit log, together in one transaction.
 * (Kept beside the shared Store so the notification tables stay out of every other area's ports.)
 */
export function createNotificationStore(db: Db, chainKey: LinkKeyPads): Ports<{ notifications: NotificationStore; audit: AuditStore }> {
  return {
    notifications: new NotificationRepository(db),
    audit: new AuditRepository(db, chainKey),
    transaction: (fn) => db.transaction((tx) => fn({ notifications: new NotificationRepository(tx), audit: new AuditRepository(tx, chainKey) })),
  };
}
