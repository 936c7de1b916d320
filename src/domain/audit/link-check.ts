import type { AuditChainKeys } from "../../crypto/audit-chain-keys.js";
import { chainHash, contentHash, linkMessage, UNKEYED_LEGACY, type ChainedFields } from "./audit-event.js";

/** A link as stored: its fields, its hash and the key that made it. */
export type StoredLink = ChainedFields & { hash: string; keyId: string };

export type LinkProblem = { check: "content" | "key"; problem: string };

/**
 * Whether a link's hash is what its fields and key give: plain SHA-256 for legacy links, the
 * keyed HMAC otherwise. Shared by the live chain's verifier and the archive verifier.
 */
export function linkProblem(row: StoredLink, keys: Pick<AuditChainKeys, "link">): LinkProblem | undefined {
  if (row.keyId === UNKEYED_LEGACY) {
    return chainHash(row) === row.hash ? undefined : { check: "content", problem: "event content does not match its hash (the event was edited)" };
  }
  const expected = keys.link(row.keyId, linkMessage(row.prevHash, row.sequence, contentHash(row)));
  if (expected === undefined) return { check: "key", problem: `the link names an unknown chain key "${row.keyId}"` };
  if (expected !== row.hash)
    return { check: "key", problem: `the keyed link (${row.keyId}) does not match: the event was edited, or its link was made without the key` };
  return undefined;
}
