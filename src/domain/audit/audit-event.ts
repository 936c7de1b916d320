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
 * The link: previous hash, sequence and content hash. Kept this simple so that the database
 * computes the same value (sha256 of the same text) when it appends.
 */
export function linkHash(prevHash: string, sequence: number, content: string): string {
  return createHash("sha256").update(`${prevHash}:${sequence}:${content}`).digest("hex");
}

/** The hash an event must carry: it covers every stored field and the previous link. */
export function chainHash(f: ChainedFields): string {
  return linkHash(f.prevHash, f.sequence, contentHash(f));
}
