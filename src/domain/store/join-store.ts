import type { JoinTokenRow, NodeRow } from "../records.js";

export interface JoinTokenStore {
  create(row: Omit<JoinTokenRow, "id">): Promise<JoinTokenRow>;
  /** Newest first, keyset-paginated; `limit` rows at most. */
  list(limit: number, after?: { createdAt: Date; id: string }): Promise<JoinTokenRow[]>;
  delete(id: string): Promise<JoinTokenRow | undefined>;
  findByHash(tokenHash: string): Promise<JoinTokenRow | undefined>;
  /** The token row locked for the rest of the transaction: joins on one token take turns. */
  lockByHash(tokenHash: string): Promise<JoinTokenRow | undefined>;
  /** Spends one use; false when none was left (the row's check constraint backs this up). */
  spendUse(id: string): Promise<boolean>;
}

/** What a registration changes on a node row. */
export interface NodeRegistration {
  hostname: string;
  addresses: string[];
  agentLabels: Record<string, string>;
  version: string;
  agentTokenHash: string;
  registeredAt: Date;
}

/** Heartbeat fields an agent reports; undefined ones are left as they are. */
export interface HeartbeatUpdate {
  id: string;
  at: Date;
  labels?: Record<string, string>;
  version?: string;
  addresses?: string[];
}

export interface NodeQuery {
  /** Terms all of which must hold. */
  selector: { key: string; op: "eq" | "ne" | "exists" | "missing"; value?: string }[];
  online?: boolean;
  /** Heartbeats after this count as online. */
  onlineSince: Date;
  /**
   * Role node_labels (key -> allowed values, "*" for any), one map per role: a node is listed
   * when it matches any one map. Undefined: every node.
   */
  reachable?: Record<string, string[]>[];
  /** With `reachable`: these nodes too (approved access requests grant them). */
  reachableIds?: string[];
  limit: number;
  after?: { hostname: string; id: string };
}

export interface NodeStore {
  /** The token's pending binding of this host key, if any. */
  findPending(joinTokenId: string, hostKeyFingerprint: string): Promise<NodeRow | undefined>;
  /** The token's pending bindings. */
  pendingOf(joinTokenId: string): Promise<NodeRow[]>;
  createPending(row: Omit<NodeRow, "registeredAt" | "lastHeartbeatAt" | "deregisteredAt" | "agentTokenHash" | "version" | "adminLabels">): Promise<NodeRow>;
  /** A pending node becomes registered. */
  register(id: string, reg: NodeRegistration): Promise<NodeRow>;
  createRegistered(row: Omit<NodeRow, "lastHeartbeatAt" | "deregisteredAt" | "adminLabels">): Promise<NodeRow>;
  /** A registered node by id (undefined when unknown, pending or deregistered). */
  findRegistered(id: string): Promise<NodeRow | undefined>;
  deregister(id: string, at: Date): Promise<boolean>;
  /** Records the host key of a node that joined without one. */
  bindHostKey(id: string, hostKeyFingerprint: string): Promise<void>;
  /** Many heartbeats in one statement per shape. */
  recordHeartbeats(updates: HeartbeatUpdate[]): Promise<void>;
  setAdminLabels(id: string, labels: Record<string, string>): Promise<NodeRow | undefined>;
  list(q: NodeQuery): Promise<NodeRow[]>;
  /**
   * The nodes among `ids` that exist (any state), each with one flag per map of `maps` (role
   * node_labels, as in NodeQuery.reachable): whether that map reaches the node.
   */
  reachedBy(ids: string[], maps: Record<string, string[]>[]): Promise<{ id: string; state: string; reached: boolean[] }[]>;
}
