import { and, count, gte, inArray, isNull, lte, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { rowsOf } from "../rows.js";
import { devices, telemetryEvents } from "../schema/index.js";
import type { DailyPartition, DevicePostureUpdate, NewTelemetryEvent, TelemetryBatch, TelemetryStore } from "../../domain/store/telemetry-store.js";

/** Partition maintenance of every instance takes this transaction lock (the audit checkpoint has 7345003). */
const PARTITION_LOCK = 7_345_120;
const DAILY_PARTITION = /^telemetry_events_p\d{8}$/;
/** DDL waits at most this long for a lock, so it never queues the inserts behind it for long. */
const DDL_LOCK_TIMEOUT = "2s";

export class TelemetryRepository implements TelemetryStore {
  constructor(private readonly db: DbOrTx) {}

  /**
   * One statement whatever the batch size: the events travel as one JSON parameter expanded by
   * jsonb_to_recordset (five more for the tags), and the posture update, when there is one, is a
   * data-modifying CTE of the same statement. (json_to_recordset is several times slower here:
   * it re-parses each event's attributes into its jsonb column; jsonb parses the array once.)
   */
  async insertBatch(b: TelemetryBatch): Promise<{ postureChanged: string[] }> {
    const received = b.receivedAt.toISOString();
    const insert = sql`
      insert into telemetry_events (occurred_at, received_at, organization_id, user_id, service_account_id, device_id, type, attributes)
      select e.t, ${received}::timestamptz, ${b.organizationId}::uuid, ${b.userId}::uuid, ${b.serviceAccountId}::uuid, e.d, e.y, e.a
      from jsonb_to_recordset(${eventsJson(b.events)}::jsonb) as e(t timestamptz, d uuid, y text, a jsonb)`;
    if (b.postures.length === 0) {
      await this.db.execute(insert);
      return { postureChanged: [] };
    }
    // Only a newer report replaces the posture: batches from one device may arrive out of order.
    const rows = rowsOf<{ id: string }>(
      await this.db.execute(sql`
        with inserted as (${insert})
        update devices d set
          posture_os = p.os, posture_os_version = p.ov, posture_disk_encrypted = p.de, posture_screen_lock = p.sl,
          posture_agent_version = p.av, posture_at = p.at,
          last_seen_at = greatest(d.last_seen_at, ${received}::timestamptz)
        from json_to_recordset(${posturesJson(b.postures)}::json) as p(id uuid, at timestamptz, os text, ov text, de boolean, sl boolean, av text)
        where d.id = p.id and d.revoked_at is null and (d.posture_at is null or d.posture_at < p.at)
        returning d.id`),
    );
    return { postureChanged: rows.map((r) => r.id) };
  }

  async liveDevices(organizationId: string, ids: string[]): Promise<{ id: string; userId: string }[]> {
    if (ids.length === 0) return [];
    return this.db
      .select({ id: devices.id, userId: devices.userId })
      .from(devices)
      .where(and(inArray(devices.id, ids), sql`${devices.organizationId} = ${organizationId}`, isNull(devices.revokedAt)));
  }

  /** The bounds are constants of the statement's plan or run-time parameters: either way, partitions outside them are pruned. */
  async countBetween(from: Date, to: Date): Promise<number> {
    const [row] = await this.db
      .select({ n: count() })
      .from(telemetryEvents)
      .where(and(gte(telemetryEvents.occurredAt, from), lte(telemetryEvents.occurredAt, to)));
    return Number(row?.n ?? 0);
  }

  async countLiveDevices(): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(devices).where(isNull(devices.revokedAt));
    return Number(row?.n ?? 0);
  }

  async listDailyPartitions(): Promise<string[]> {
    const rows = rowsOf<{ name: string }>(
      await this.db.execute(sql`
        select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'telemetry_events'::regclass`),
    );
    return rows.map((r) => r.name).filter((n) => DAILY_PARTITION.test(n));
  }

  async createDailyPartition(p: DailyPartition): Promise<"created" | "exists" | "held"> {
    const name = partitionName(p.name);
    return this.db.transaction(async (tx) => {
      await tx.execute(sql.raw(`set local lock_timeout = '${DDL_LOCK_TIMEOUT}'`));
      // Instances maintain the same table: one at a time, each seeing what the last one made.
      await tx.execute(sql`select pg_advisory_xact_lock(${PARTITION_LOCK})`);
      const [state] = rowsOf<{ present: boolean; held: boolean }>(
        await tx.execute(sql`
          select to_regclass(${name}) is not null as present,
                 exists (select 1 from telemetry_events_default
                         where occurred_at >= ${p.from.toISOString()}::timestamptz and occurred_at < ${p.to.toISOString()}::timestamptz) as held`),
      );
      if (state?.present) return "exists";
      // PostgreSQL refuses a partition whose range the default partition holds rows of; those
      // rows stay there until retention deletes them, and later days get their partitions ahead.
      if (state?.held) return "held";
      await tx.execute(
        sql.raw(
          `create table if not exists ${name} partition of telemetry_events for values from ('${timestampLiteral(p.from)}') to ('${timestampLiteral(p.to)}')`,
        ),
      );
      return "created";
    });
  }

  async dropDailyPartition(name: string): Promise<void> {
    const table = partitionName(name);
    await this.db.transaction(async (tx) => {
      await tx.execute(sql.raw(`set local lock_timeout = '${DDL_LOCK_TIMEOUT}'`));
      await tx.execute(sql`select pg_advisory_xact_lock(${PARTITION_LOCK})`);
      await tx.execute(sql.raw(`drop table if exists ${table}`));
    });
  }

  async deleteDefaultPartitionBefore(before: Date): Promise<number> {
    const rows = rowsOf<{ n: number }>(
      await this.db.execute(sql`
        with gone as (delete from telemetry_events_default where occurred_at < ${before.toISOString()}::timestamptz returning 1)
        select count(*)::int as n from gone`),
    );
    return Number(rows[0]?.n ?? 0);
  }
}

/**
 * `{"t":..,"y":..,"d":..,"a":<attributes as sent>}` per event, "d" and "a" only when set (a
 * missing key is NULL): the attributes are JSON already, the device a checked uuid.
 */
function eventsJson(events: NewTelemetryEvent[]): string {
  const parts = new Array<string>(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    let part = `{"t":"${e.occurredAt.toISOString()}","y":${JSON.stringify(e.type)}`;
    if (e.deviceId !== null) part += `,"d":"${e.deviceId}"`;
    if (e.attributesJson !== null) part += `,"a":${e.attributesJson}`;
    parts[i] = part + "}";
  }
  return `[${parts.join(",")}]`;
}

function posturesJson(postures: DevicePostureUpdate[]): string {
  return JSON.stringify(
    postures.map((p) => ({
      id: p.deviceId,
      at: p.at.toISOString(),
      os: p.os,
      ov: p.osVersion,
      de: p.diskEncrypted,
      sl: p.screenLock,
      av: p.agentVersion,
    })),
  );
}

/** DDL takes no parameters: names and bounds are checked before they are written into it. */
function partitionName(name: string): string {
  if (!DAILY_PARTITION.test(name)) throw new Error(`not a daily telemetry partition: ${name}`);
  return name;
}

function timestampLiteral(d: Date): string {
  const iso = d.toISOString();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(iso)) throw new Error(`not a partition bound: ${iso}`);
  return iso;
}
