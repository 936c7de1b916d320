import { and, asc, desc, eq, gt, gte, inArray, lt, lte, or, sql, type SQL } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { auditArchives, auditChainHead, auditCheckpoints, auditEvents, type AuditRow } from "../schema/index.js";
import { contentHash, storedFields, type AuditEntry, type LinkKeyPads } from "../../domain/audit/audit-event.js";
import type { AuditArchive, AuditCheckpoint, AuditStore, AuditQuery } from "../../domain/store/audit-store.js";

/**
 * The statement that appends one link to the chain, after `change` (CTEs, `name as (insert ...)`)
 * when given: one statement commits or fails as a whole, so a change and the event recording it
 * can be written atomically in one round trip. It locks the chain head (serializing writers, so
 * the chain never forks), links the event to it and inserts it. The link is HMAC-SHA256 under
 * the current chain key, written with the built-in sha256() over the padded keys (see
 * LinkKeyPads): the same value AuditChainKeys.link computes from linkMessage.
 */
export function appendStatement(key: LinkKeyPads, entry: AuditEntry, occurredAt: Date, change?: SQL): SQL {
  const fields = storedFields(entry, occurredAt);
  const content = contentHash(fields);
  const message = sql`convert_to(old.hash || ':' || (old.sequence + 1)::text || ':' || ${content}, 'UTF8')`;
  const hmac = sql`sha256(decode(${key.outerPad}, 'hex') || sha256(decode(${key.innerPad}, 'hex') || ${message}))`;
  return sql`
      with ${change ? sql`${change}, ` : sql``}old as (
        select sequence, hash from audit_chain_head where id = 1 for update
      ), head as (
        update audit_chain_head h
           set sequence = old.sequence + 1,
               hash = encode(${hmac}, 'hex')
          from old
         where h.id = 1
        returning h.sequence, h.hash, old.hash as prev_hash
      )
      insert into audit_events (sequence, occurred_at, event_type, outcome, actor_type, actor_id, target_type, target_id, client_ip, request_id, details, prev_hash, hash, key_id)
      select head.sequence, ${occurredAt.toISOString()}::timestamptz, ${fields.eventType}, ${fields.outcome}, ${fields.actorType}, ${fields.actorId},
             ${fields.targetType}, ${fields.targetId}, ${fields.clientIp}, ${fields.requestId}, ${JSON.stringify(fields.details)}::jsonb, head.prev_hash, head.hash,
             ${key.keyId}
        from head`;
}

/** Links appended by one statement at most: a batch's chain is computed by a recursive query. */
export const MAX_APPEND_BATCH = 256;

/**
 * The statement that appends several links at once, in the given order: one head lock and one
 * commit for the lot (group commit). A recursive query walks the batch from the locked head,
 * computing each link from the one before exactly as appendStatement does; the head moves to the
 * last link. Entries travel as one jsonb parameter.
 */
export function appendBatchStatement(key: LinkKeyPads, items: readonly { entry: AuditEntry; occurredAt: Date }[]): SQL {
  const rows = items.map(({ entry, occurredAt }, i) => {
    const fields = storedFields(entry, occurredAt);
    return {
      ord: i + 1,
      content: contentHash(fields),
      occurred_at: occurredAt.toISOString(),
      event_type: fields.eventType,
      outcome: fields.outcome,
      actor_type: fields.actorType,
      actor_id: fields.actorId,
      target_type: fields.targetType,
      target_id: fields.targetId,
      client_ip: fields.clientIp,
      request_id: fields.requestId,
      details: fields.details,
    };
  });
  const message = sql`convert_to(c.hash || ':' || (c.sequence + 1)::text || ':' || b.content, 'UTF8')`;
  const hmac = sql`sha256(decode(${key.outerPad}, 'hex') || sha256(decode(${key.innerPad}, 'hex') || ${message}))`;
  return sql`
      with recursive batch as (
        select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as b(
          ord int, content text, occurred_at timestamptz, event_type text, outcome text, actor_type text, actor_id text,
          target_type text, target_id text, client_ip text, request_id text, details jsonb)
      ), old as (
        select sequence, hash from audit_chain_head where id = 1 for update
      ), chain(ord, sequence, hash, prev_hash) as (
        select 0, old.sequence, old.hash, null::text from old
        union all
        select b.ord, c.sequence + 1, encode(${hmac}, 'hex'), c.hash
          from chain c join batch b on b.ord = c.ord + 1
      ), head as (
        update audit_chain_head h
           set sequence = last.sequence, hash = last.hash
          from (select sequence, hash from chain order by ord desc limit 1) last
         where h.id = 1
        returning h.sequence
      )
      insert into audit_events (sequence, occurred_at, event_type, outcome, actor_type, actor_id, target_type, target_id, client_ip, request_id, details, prev_hash, hash, key_id)
      select c.sequence, b.occurred_at, b.event_type, b.outcome, b.actor_type, b.actor_id, b.target_type, b.target_id, b.client_ip, b.request_id,
             b.details, c.prev_hash, c.hash, ${key.keyId}
        from chain c join batch b on b.ord = c.ord
       order by c.ord`;
}

/** Checkpoint writers take this transaction lock (key rotation has 7345002). */
const CHECKPOINT_LOCK = 7_345_003;

export class AuditRepository implements AuditStore {
  constructor(
    private readonly db: DbOrTx,
    private readonly chainKey: LinkKeyPads,
  ) {}

  async append(entry: AuditEntry, occurredAt: Date): Promise<void> {
    await this.db.execute(appendStatement(this.chainKey, entry, occurredAt));
  }

  async appendMany(items: readonly { entry: AuditEntry; occurredAt: Date }[]): Promise<void> {
    for (let i = 0; i < items.length; i += MAX_APPEND_BATCH) await this.db.execute(appendBatchStatement(this.chainKey, items.slice(i, i + MAX_APPEND_BATCH)));
  }

  async listNewestFirst(limit: number, beforeSequence?: number): Promise<AuditRow[]> {
    return this.db
      .select()
      .from(auditEvents)
      .where(beforeSequence ? lt(auditEvents.sequence, beforeSequence) : undefined)
      .orderBy(desc(auditEvents.sequence))
      .limit(limit);
  }

  async query(q: AuditQuery): Promise<AuditRow[]> {
    const where: SQL[] = [];
    if (q.start) where.push(gte(auditEvents.occurredAt, q.start));
    if (q.end) where.push(lte(auditEvents.occurredAt, q.end));
    if (q.eventTypes?.length) where.push(inArray(auditEvents.eventType, q.eventTypes));
    if (q.actorId) where.push(eq(auditEvents.actorId, q.actorId));
    if (q.targetId) where.push(eq(auditEvents.targetId, q.targetId));
    if (q.userId) where.push(or(eq(auditEvents.actorId, q.userId), eq(auditEvents.targetId, q.userId))!);
    if (q.nodeId) where.push(or(eq(auditEvents.actorId, q.nodeId), eq(auditEvents.targetId, q.nodeId))!);
    if (q.outcome) where.push(eq(auditEvents.outcome, q.outcome));
    if (q.afterSequence) where.push(gt(auditEvents.sequence, q.afterSequence));
    return this.db
      .select()
      .from(auditEvents)
      .where(and(...where))
      .orderBy(asc(auditEvents.sequence))
      .limit(q.limit);
  }

  async batchAfter(afterSequence: number, limit: number): Promise<AuditRow[]> {
    return this.db.select().from(auditEvents).where(gt(auditEvents.sequence, afterSequence)).orderBy(asc(auditEvents.sequence)).limit(limit);
  }

  async head(): Promise<{ sequence: number; hash: string } | undefined> {
    const [head] = await this.db.select().from(auditChainHead).where(eq(auditChainHead.id, 1));
    return head;
  }

  async count(): Promise<number> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(auditEvents);
    return Number(row?.n ?? 0);
  }

  async insertCheckpoint(c: AuditCheckpoint): Promise<void> {
    await this.db.insert(auditCheckpoints).values(c);
  }

  async checkpointsAfter(afterNumber: number, limit: number): Promise<AuditCheckpoint[]> {
    return this.db.select().from(auditCheckpoints).where(gt(auditCheckpoints.number, afterNumber)).orderBy(asc(auditCheckpoints.number)).limit(limit);
  }

  async checkpointsNewestFirst(limit: number, beforeNumber?: number): Promise<AuditCheckpoint[]> {
    return this.db
      .select()
      .from(auditCheckpoints)
      .where(beforeNumber ? lt(auditCheckpoints.number, beforeNumber) : undefined)
      .orderBy(desc(auditCheckpoints.number))
      .limit(limit);
  }

  async lockCheckpoints(): Promise<void> {
    await this.db.execute(sql`select pg_advisory_xact_lock(${CHECKPOINT_LOCK})`);
  }

  async newestArchive(): Promise<AuditArchive | undefined> {
    const [row] = await this.db.select().from(auditArchives).orderBy(desc(auditArchives.number)).limit(1);
    return row;
  }

  async archiveByHead(headSequence: number): Promise<AuditArchive | undefined> {
    const [row] = await this.db.select().from(auditArchives).where(eq(auditArchives.headSequence, headSequence)).limit(1);
    return row;
  }

  async archiveByNumber(number: number): Promise<AuditArchive | undefined> {
    const [row] = await this.db.select().from(auditArchives).where(eq(auditArchives.number, number));
    return row;
  }

  async firstBefore(before: Date, afterSequence: number): Promise<number | undefined> {
    const [row] = await this.db
      .select({ s: sql<string | null>`min(${auditEvents.sequence})` })
      .from(auditEvents)
      .where(and(gt(auditEvents.sequence, afterSequence), lt(auditEvents.occurredAt, before)));
    return row?.s == null ? undefined : Number(row.s);
  }

  async checkpointsWithin(afterSequence: number, throughSequence: number): Promise<AuditCheckpoint[]> {
    return this.db
      .select()
      .from(auditCheckpoints)
      .where(and(gt(auditCheckpoints.sequence, afterSequence), lte(auditCheckpoints.sequence, throughSequence)))
      .orderBy(asc(auditCheckpoints.number));
  }

  async lockHead(): Promise<void> {
    await this.db.execute(sql`select sequence from audit_chain_head where id = 1 for update`);
  }

  async deleteArchived(afterSequence: number, throughSequence: number): Promise<{ sequence: number; hash: string }[]> {
    // The append-only trigger lets a DELETE through only for sequences up to this setting, which
    // set_config(..., true) scopes to this transaction (see migration 0022).
    await this.db.execute(sql`select set_config('warden.audit_archive_through', ${String(throughSequence)}, true)`);
    const deleted = await this.db
      .delete(auditEvents)
      .where(and(gt(auditEvents.sequence, afterSequence), lte(auditEvents.sequence, throughSequence)))
      .returning({ sequence: auditEvents.sequence, hash: auditEvents.hash });
    await this.db.execute(sql`select set_config('warden.audit_archive_through', '', true)`);
    return deleted.sort((a, b) => a.sequence - b.sequence);
  }

  async insertArchive(a: AuditArchive): Promise<void> {
    await this.db.insert(auditArchives).values(a);
  }
}
