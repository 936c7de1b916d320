import type { AgentIdentityRow, AgentIdentityTokenRow } from "../records.js";

/** An identity as listed: with the expiry of its bootstrap token (kept after use). */
export interface AgentIdentityListing extends AgentIdentityRow {
  bootstrapExpiresAt: Date | undefined;
}

/** What a bootstrap, a renewal or a lock changes on an identity row. */
export type AgentIdentityChange = Partial<Pick<AgentIdentityRow, "generation" | "bootstrappedAt" | "lastRenewedAt" | "lockedAt" | "lockReason">>;

export interface AgentIdentityStore {
  findById(id: string): Promise<AgentIdentityRow | undefined>;
  /** Undefined when the name is taken (unique index). */
  create(row: Omit<AgentIdentityRow, "id">): Promise<AgentIdentityRow | undefined>;
  /** Newest first, keyset-paginated; `limit` rows at most. */
  list(limit: number, after?: { createdAt: Date; id: string }): Promise<AgentIdentityListing[]>;
  /** Its tokens go with it (foreign key cascade). */
  delete(id: string): Promise<AgentIdentityRow | undefined>;
  /** The identity row locked for the rest of the transaction: its token exchanges take turns. */
  lockById(id: string): Promise<AgentIdentityRow | undefined>;
  update(id: string, change: AgentIdentityChange): Promise<AgentIdentityRow | undefined>;
  addToken(row: AgentIdentityTokenRow): Promise<void>;
  findToken(tokenHash: string): Promise<AgentIdentityTokenRow | undefined>;
  /** Marks the token used; false when it already was. */
  useToken(tokenHash: string, at: Date): Promise<boolean>;
}
