import { createHash } from "node:crypto";

export type Outcome = "success" | "failure";

export interface AuditEntry {
  eventType: string;
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

/** The link hash covers every stored field and the previous link, in a fixed order. */
export function chainHash(f: ChainedFields): string {
  const details = Object.keys(f.details)
    .sort()
    .map((k) => [k, f.details[k]]);
  const canonical = JSON.stringify([
    f.sequence,
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
    f.prevHash,
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}
