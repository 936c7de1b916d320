import { randomBytes } from "node:crypto";
import type { SQL } from "drizzle-orm";
import postgres from "postgres";
import { migratedPgliteImage, openDatabase, type Database, type Db } from "../../src/db/client.js";
import { rowsOf } from "../../src/db/rows.js";

/**
 * The PostgreSQL server the suite runs against, when TEST_DATABASE_URL names one; otherwise
 * the embedded database. A developer's DATABASE_URL is never used: tests create and drop
 * databases, and must not touch a real one by accident.
 */
export const TEST_PG_URL = process.env.TEST_DATABASE_URL || "";

export interface TestDatabase {
  database: Database;
  /** postgres:// URL of this test's own database (PostgreSQL runs only). */
  url?: string;
  cleanup(): Promise<void>;
}

/** One migrated embedded database per worker; each test database starts as a copy of it. */
let image: Promise<Blob> | undefined;

/** A fresh database of its own: an in-memory PGlite copied from the worker's image, or a new database on the configured server. */
export async function openTestDatabase(): Promise<TestDatabase> {
  if (!TEST_PG_URL) {
    image ??= migratedPgliteImage();
    const database = await openDatabase({ pgliteImage: await image });
    return { database, cleanup: () => database.close() };
  }
  return openScratchDatabase(await createScratchDatabase());
}

/** Opens (and migrates) a scratch database of the configured server; cleanup drops it. */
export async function openScratchDatabase(url: string): Promise<TestDatabase> {
  const database = await openDatabase({ databaseUrl: url, poolSize: 5 });
  return {
    database,
    url,
    async cleanup() {
      await database.close();
      await dropScratchDatabase(url);
    },
  };
}

export async function createScratchDatabase(): Promise<string> {
  const name = `warden_t_${randomBytes(6).toString("hex")}`;
  const admin = postgres(TEST_PG_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropScratchDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = postgres(TEST_PG_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
  } finally {
    await admin.end();
  }
}

/** Rows of a raw `db.execute` (the repositories' own reader). */
export { rowsOf };

/** Runs a raw query on the test database (callers pass `t.app.hooks.db`) and returns its rows. */
export async function queryRows<T = Record<string, unknown>>(db: Db, query: SQL): Promise<T[]> {
  return rowsOf<T>(await db.execute(query));
}
