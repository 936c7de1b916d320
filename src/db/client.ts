import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import type { ExtractTablesWithRelations } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import * as schema from "./schema/index.js";
import { secureDataDir } from "./data-dir.js";
import { assertPostgresDriverRepaired } from "./postgres-driver-repair.js";

type Schema = typeof schema;
/** One Drizzle type for both drivers: repositories never know which one runs. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
export type DbOrTx = Db | Tx;

export interface PoolStats {
  /** Connections the pool may open. */
  max: number;
}

export interface Database {
  db: Db;
  driver: "pglite" | "postgres";
  /** Resolves when the database answers within the timeout. */
  ping(timeoutMs?: number): Promise<boolean>;
  /** Notifications between instances sharing the database (LISTEN/NOTIFY). */
  listen(channel: string, onMessage: (payload: string) => void): Promise<void>;
  notify(channel: string, payload: string): Promise<void>;
  poolStats(): PoolStats;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string;
  /** Directory for the embedded database; undefined means in memory. */
  dataDir?: string;
  /** An embedded database to start from (see migratedPgliteImage): tests skip initdb this way. */
  pgliteImage?: Blob;
  poolSize?: number;
  /** PostgreSQL's statement_timeout for every connection. */
  statementTimeoutMs?: number;
}

const migrationsFolder = fileURLToPath(new URL("../../drizzle", import.meta.url));
const MIGRATION_LOCK = 7_345_001;

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl, opts.poolSize ?? 10, opts.statementTimeoutMs ?? 10_000) : openPglite(opts.dataDir, opts.pgliteImage);
}

async function openPostgres(url: string, max: number, statementTimeoutMs: number): Promise<Database> {
  assertPostgresDriverRepaired();
  await migratePostgresOnce(url);
  const client = postgres(url, {
    max,
    onnotice: () => {},
    connect_timeout: 5,
    idle_timeout: 60,
    // A statement the server cannot finish in time is cancelled there (SQLSTATE 57014: UNAVAILABLE).
    connection: { statement_timeout: statementTimeoutMs },
  });
  const db = drizzlePostgres(client, { schema }) as unknown as Db;
  return {
    db,
    driver: "postgres",
    ping: (timeoutMs = 2000) =>
      withTimeout(
        client`select 1`.then(() => true),
        timeoutMs,
      ),
    async listen(channel, onMessage) {
      await client.listen(channel, onMessage);
    },
    async notify(channel, payload) {
      await client.notify(channel, payload);
    },
    poolStats: () => ({ max }),
    close: () => client.end({ timeout: 5 }),
  };
}

/** Several instances may start together: a session advisory lock lets one migrate at a time. */
async function migratePostgresOnce(url: string): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await client`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migratePostgres(drizzlePostgres(client, { schema }), { migrationsFolder });
    await client`select pg_advisory_unlock(${MIGRATION_LOCK})`;
  } finally {
    await client.end({ timeout: 5 });
  }
}

/**
 * PGlite's file layer sets each file's mode itself (0666, past the process umask) and its
 * start-up writes files before anyone can step in: later mode changes keep group and others
 * out, and what the start wrote is narrowed once it is done.
 */
function keepFilesPrivate(client: PGlite, dataDir: string): void {
  const fs = (client as unknown as { Module?: { FS?: { chmod(path: unknown, mode: number, ...rest: unknown[]): unknown } } }).Module?.FS;
  if (fs) {
    const chmod = fs.chmod.bind(fs);
    fs.chmod = (path, mode, ...rest) => chmod(path, mode & ~0o077, ...rest);
  }
  secureDataDir(dataDir);
}

async function openPglite(dataDir?: string, image?: Blob): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const client = await PGlite.create({ ...(dataDir ? { dataDir } : {}), ...(image ? { loadDataDir: image } : {}) });
  if (dataDir) keepFilesPrivate(client, dataDir);
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  await migratePglite(drizzlePglite(client, { schema }), { migrationsFolder });
  return {
    db,
    driver: "pglite",
    ping: (timeoutMs = 2000) =>
      withTimeout(
        client.query("select 1").then(() => true),
        timeoutMs,
      ),
    // One process owns the embedded database; several apps sharing it (tests) hear each other here.
    async listen(channel, onMessage) {
      await client.listen(channel, onMessage);
    },
    async notify(channel, payload) {
      await client.query("select pg_notify($1, $2)", [channel, payload]);
    },
    poolStats: () => ({ max: 1 }),
    close: () => client.close(),
  };
}

/** A migrated, empty embedded database as an image that openDatabase can start from. */
export async function migratedPgliteImage(): Promise<Blob> {
  const client = await PGlite.create();
  try {
    await migratePglite(drizzlePglite(client, { schema }), { migrationsFolder });
    return await client.dumpDataDir("none");
  } finally {
    await client.close();
  }
}

async function withTimeout(p: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
