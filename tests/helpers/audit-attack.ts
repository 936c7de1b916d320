import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import { AuditChainKeys } from "../../src/crypto/audit-chain-keys.js";
import { auditEvents } from "../../src/db/schema/index.js";
import { contentHash, GENESIS_HASH, linkMessage, UNKEYED_LEGACY } from "../../src/domain/audit/audit-event.js";
import type { AuditRow } from "../../src/domain/records.js";
import type { TestApp } from "./test-app.js";

/**
 * What someone with write access to the database (and nothing else) can do to the audit log:
 * switch the append-only triggers off, then rewrite rows, the head and the checkpoints at will.
 */

/** The master key createTestApp configures: only "leaked key" attacks use it. */
export const TEST_MASTER_KEY = "test-master-key-0123456789abcdef0123456789";

/** How the attacker links a row: the key id written into it, and the link of a message. */
export interface Linker {
  keyId: string;
  link(message: string): string;
}

const sha256 = (m: string) => createHash("sha256").update(m).digest("hex");

/** Plain SHA-256 links, rows marked as legacy (a downgrade to the pre-keyed chain). */
export const LEGACY_SHA256: Linker = { keyId: UNKEYED_LEGACY, link: sha256 };
/** Plain SHA-256 links, the rows' key id left as it was. */
export const SHA256_AS_V1: Linker = { keyId: "v1", link: sha256 };

/** HMACs under a chain key derived from `masterKey` ("v1"). */
export function hmacLinker(masterKey: string): Linker {
  const keys = new AuditChainKeys(masterKey, 1);
  return { keyId: "v1", link: (m) => keys.link("v1", m)! };
}

/** HMACs under a key the attacker made up. */
export const WRONG_KEY = hmacLinker("the attacker's own key, 32+ characters long");
/** HMACs under the real chain key: what a leaked key allows. */
export const LEAKED_KEY = hmacLinker(TEST_MASTER_KEY);

export const execute = (t: TestApp, query: ReturnType<typeof sql>) => t.app.hooks.db.execute(query);

/** The whole log, oldest first. */
export async function auditRows(t: TestApp): Promise<AuditRow[]> {
  return t.app.hooks.store.audit.batchAfter(0, 100_000);
}

/** Step one of every attack: the append-only triggers off (audit events and checkpoints). */
export async function disableTriggers(t: TestApp): Promise<void> {
  await execute(t, sql`alter table audit_events disable trigger user`);
  await execute(t, sql`alter table audit_checkpoints disable trigger user`);
}

/**
 * Replaces the log with `rows` (edited, dropped or renumbered as the attack wants): rows from
 * `from` to `until` are each linked to the one before it with `linker`, the others keep their
 * stored links; the head is moved to the last link, as an attacker covering their tracks would.
 */
export async function rewriteChain(t: TestApp, rows: AuditRow[], linker: Linker, from = 1, until = Infinity): Promise<void> {
  await disableTriggers(t);
  let prevHash = GENESIS_HASH;
  const rewritten = rows.map((row) => {
    if (row.sequence < from || row.sequence > until) return ((prevHash = row.hash), row);
    const hash = linker.link(linkMessage(prevHash, row.sequence, contentHash(row)));
    const next = { ...row, prevHash, hash, keyId: linker.keyId };
    prevHash = hash;
    return next;
  });
  await execute(t, sql`delete from audit_events`);
  for (const row of rewritten) await t.app.hooks.db.insert(auditEvents).values(row);
  const last = rewritten[rewritten.length - 1];
  await execute(t, sql`update audit_chain_head set sequence = ${last?.sequence ?? 0}, hash = ${last?.hash ?? GENESIS_HASH} where id = 1`);
}

/** The rows with the one at `sequence` removed and those after it numbered down to close the gap. */
export function withoutRenumbered(rows: AuditRow[], sequence: number): AuditRow[] {
  return rows.filter((r) => r.sequence !== sequence).map((r) => (r.sequence > sequence ? { ...r, sequence: r.sequence - 1 } : r));
}
