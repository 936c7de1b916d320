import type { SshSessionRow } from "../records.js";

/** An SSH session as an agent reports it. */
export type ReportedSshSession = Omit<SshSessionRow, "nodeId" | "terminateRequestedAt">;

/** A listed SSH session with its node's hostname. */
export type SshSessionListing = SshSessionRow & { hostname: string };

export interface SshSessionQuery {
  /** Nodes whose last heartbeat is after this are online: only their sessions are active. */
  onlineSince: Date;
  /** Only this user's; every user's when undefined. */
  userId?: string;
  limit: number;
  /** Newest first: the last row of the previous page. */
  after?: { startedAt: Date; nodeId: string; sessionId: string };
}

export interface SshSessionStore {
  /**
   * The node's sessions become `sessions` (session ids unique), in one statement: the ids among
   * them already marked for termination come back, and whether any row changed.
   */
  replace(nodeId: string, sessions: ReportedSshSession[]): Promise<{ terminate: string[]; changed: boolean }>;
  /** Sessions of registered, online nodes, newest first, keyset-paginated. */
  listActive(q: SshSessionQuery): Promise<SshSessionListing[]>;
  findActive(nodeId: string, sessionId: string, onlineSince: Date): Promise<SshSessionListing | undefined>;
  /** Marks it for termination (the first mark stays); false when there is no such session. */
  requestTermination(nodeId: string, sessionId: string, at: Date): Promise<boolean>;
}
