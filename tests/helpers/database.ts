import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { openDatabase, type Database } from "../../src/db/client.js";

/** The PostgreSQL server the suite runs against, when one is configured; otherwise PGlite. */
export const TEST_PG_URL = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || "";

export interface TestDatabase {
  database: Database;
  /** postgres:// URL of this test's own database (PostgreSQL runs only). */
  url?: string;
  cleanup(): Promise<void>;
}

/** A fresh database of its own: in-memory PGlite, or a new database on the configured server. */
export async function openTestDatabase(): Promise<TestDatabase> {
  if (!TEST_PG_URL) {
    const database = await openDatabase({});
    return { database, cleanup: () => database.close() };
  }
  const url = await createScratchDatabase();
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

/** Rows of a raw `db.execute`: postgres.js returns an array, PGlite `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
