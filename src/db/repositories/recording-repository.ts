import { and, asc, desc, eq, gte, inArray, lt, or, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { rowsOf } from "../rows.js";
import { nodes, recordingChunks, sessionRecordings, type SessionRecordingRow } from "../schema/index.js";
import { reachableSql } from "./node-labels-sql.js";
import type { NewRecording, RecordingQuery, RecordingStore } from "../../domain/store/recording-store.js";

const r = sessionRecordings;
const c = recordingChunks;

export class RecordingRepository implements RecordingStore {
  constructor(private readonly db: DbOrTx) {}

  async open(row: NewRecording): Promise<SessionRecordingRow> {
    // A no-op update on conflict, so the existing row comes back in the same statement.
    const [opened] = await this.db
      .insert(r)
      .values(row)
      .onConflictDoUpdate({ target: [r.nodeId, r.sessionId], set: { nodeId: sql`excluded.node_id` } })
      .returning();
    return opened!;
  }

  async find(id: string): Promise<SessionRecordingRow | undefined> {
    const [row] = await this.db.select().from(r).where(eq(r.id, id));
    return row;
  }

  async append(id: string, offset: number, chunks: Uint8Array[]): Promise<boolean> {
    // One statement, so one round trip and its own commit. The guard on size_bytes orders
    // concurrent writers: the second waits for the row lock, then finds the size moved and
    // inserts nothing.
    let total = 0;
    const rows = chunks.map((data) => {
      const row = sql`(${offset + total}::bigint, ${asBuffer(data)}::bytea)`;
      total += data.byteLength;
      return row;
    });
    const inserted = await this.db.execute<{ offset: number }>(sql`
      with moved as (
        update ${r} set size_bytes = size_bytes + ${total}
        where ${r.id} = ${id} and ${r.sizeBytes} = ${offset} and not ${r.complete}
        returning ${r.id}
      )
      insert into ${c} (recording_id, "offset", data)
      select moved.id, v.chunk_offset, v.data from moved, (values ${sql.join(rows, sql`, `)}) as v(chunk_offset, data)
      returning "offset"`);
    return rowsOf(inserted).length === chunks.length;
  }

  async chunkAt(id: string, offset: number): Promise<Uint8Array | undefined> {
    const [row] = await this.db
      .select({ data: c.data })
      .from(c)
      .where(and(eq(c.recordingId, id), eq(c.offset, offset)));
    return row?.data;
  }

  async chunks(id: string, from: number, limit: number): Promise<{ offset: number; data: Uint8Array }[]> {
    return this.db
      .select({ offset: c.offset, data: c.data })
      .from(c)
      .where(and(eq(c.recordingId, id), gte(c.offset, from)))
      .orderBy(asc(c.offset))
      .limit(limit);
  }

  async complete(id: string, size: number, sha256: Uint8Array, endedAt: Date | null): Promise<SessionRecordingRow | undefined> {
    const [row] = await this.db
      .update(r)
      .set({ complete: true, sha256, ...(endedAt ? { endedAt } : {}) })
      .where(and(eq(r.id, id), eq(r.sizeBytes, size), eq(r.complete, false)))
      .returning();
    return row;
  }

  async discard(id: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [kept] = await tx
        .update(r)
        .set({ sizeBytes: 0 })
        .where(and(eq(r.id, id), eq(r.complete, false)))
        .returning({ id: r.id });
      if (kept) await tx.delete(c).where(eq(c.recordingId, id));
    });
  }

  async list(q: RecordingQuery): Promise<SessionRecordingRow[]> {
    const older = q.after ? or(lt(r.startedAt, q.after.startedAt), and(eq(r.startedAt, q.after.startedAt), lt(r.id, q.after.id))) : undefined;
    return this.db
      .select()
      .from(r)
      .where(
        and(
          q.includeIncomplete ? undefined : eq(r.complete, true),
          q.user ? eq(r.user, q.user) : undefined,
          q.nodeId ? eq(r.nodeId, q.nodeId) : undefined,
          q.nodesReachedBy ? inArray(r.nodeId, this.db.select({ id: nodes.id }).from(nodes).where(reachableSql(q.nodesReachedBy))) : undefined,
          q.startedAfter ? gte(r.startedAt, q.startedAfter) : undefined,
          q.startedBefore ? lt(r.startedAt, q.startedBefore) : undefined,
          older,
        ),
      )
      .orderBy(desc(r.startedAt), desc(r.id))
      .limit(q.limit);
  }
}

/** postgres.js sends a Buffer parameter of a bytea as bytes (scripts/patch-postgres-driver.mjs). */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
