import type { AgentIdentityRow } from "../records.js";

export interface AgentIdentityStore {
  findById(id: string): Promise<AgentIdentityRow | undefined>;
}
