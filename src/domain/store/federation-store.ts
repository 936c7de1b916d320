import type { ConnectorRow, IdentityRow } from "../records.js";
import type { PageAfter } from "./user-store.js";

export interface ConnectorStore {
  /** Undefined when the id or the issuer is taken. */
  create(c: Omit<ConnectorRow, "createdAt">, now: Date): Promise<ConnectorRow | undefined>;
  find(id: string): Promise<ConnectorRow | undefined>;
  list(limit: number, after?: PageAfter): Promise<ConnectorRow[]>;
  delete(id: string): Promise<ConnectorRow | undefined>;
}

export interface IdentityStore {
  find(issuer: string, subject: string): Promise<IdentityRow | undefined>;
  /** Undefined when the identity is already linked (to anyone). */
  link(identity: Omit<IdentityRow, "createdAt">, now: Date): Promise<IdentityRow | undefined>;
  /** Keeps the email the provider last reported. */
  touchEmail(issuer: string, subject: string, email: string): Promise<void>;
  unlink(issuer: string, subject: string): Promise<void>;
  /** Every identity linked to the user; returns how many there were. */
  unlinkAllOf(userId: string): Promise<number>;
}
