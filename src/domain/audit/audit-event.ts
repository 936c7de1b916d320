import { createHash } from "node:crypto";
import type { AuditEventType } from "./audit-events.js";

export type Outcome = "success" | "failure";

export interface AuditEntry {
  eventType: AuditEventType;
  outcome: Outcome;
  actorType: string;
  actorId: string;
  targetType?: string;
  targetId?: string;
  clientIp?: string;
  requestId?: string;
  details?: Record<string, string>;
}

export interface ChainedFields {
  sequence: number;
  occurredAt: Date;
  eventType: string;
  outcome: string;
  actorType: string;
  actorId: string;
  targetType: string;
  targetId: string;
  clientIp: string;
  requestId: string;
  details: Record<string, string>;
  prevHash: string;
}

export const GENESIS_HASH = "0".repeat(64);

/** The key id of links written before the chain was keyed (migration 0009): plain SHA-256. */
export const UNKEYED_LEGACY = "legacy";

/**
 * What the append statement needs to compute a keyed link (HMAC-SHA256) with PostgreSQL's
 * built-in sha256(): HMAC(K, m) = sha256((K ^ opad) || sha256((K ^ ipad) || m)). The padded
 * keys (hex) travel as statement parameters and are never stored; they are as secret as K.
 */
export interface LinkKeyPads {
  keyId: string;
  innerPad: string;
  outerPad: string;
}

/** The stored form of an entry: every optional field present. */
export function storedFields(entry: AuditEntry, occurredAt: Date): Omit<ChainedFields, "sequence" | "prevHash"> {
  return {
    occurredAt,
    eventType: entry.eventType,
    outcome: entry.outcome,
    actorType: entry.actorType,
    actorId: entry.actorId,
    targetType: entry.targetType ?? "",
    targetId: entry.targetId ?? "",
    clientIp: entry.clientIp ?? "",
    requestId: entry.requestId ?? "",
    details: entry.details ?? {},
  };
}

/** The hash of an event's content: every stored field but its place in the chain. */
export function contentHash(f: Omit<ChainedFields, "sequence" | "prevHash">): string {
  const details = Object.keys(f.details)
    .sort()
    .map((k) => [k, f.details[k]]);
  const canonical = JSON.stringify([
    f.occurredAt.toISOString(),
    f.eventType,
    f.outcome,
    f.actorType,
    f.actorId,
    f.targetType,
    f.targetId,
    f.clientIp,
    f.requestId,
    details,
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}

/**
 * What a link covers: previous hash, sequence and content hash. Kept this simple so that the
 * database computes the same value from the same text when it appends.
 */
export function linkMessage(prevHash: string, sequence: number, content: string): string {
  return `${prevHash}:${sequence}:${content}`;
}

/** An unkeyed (legacy) link: plain SHA-256 of the message, as links were before the chain was keyed. */
export function linkHash(prevHash: string, sequence: number, content: string): string {
  return createHash("sha256")
    .update(linkMessage(prevHash, sequence, content))
    .digest("hex");
}

/** The unkeyed hash a legacy event must carry: it covers every stored field and the previous link. */
export function chainHash(f: ChainedFields): string {
  return linkHash(f.prevHash, f.sequence, contentHash(f));
}
