import { eq } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { agentIdentities, type AgentIdentityRow } from "../schema/index.js";
import type { AgentIdentityStore } from "../../domain/store/agent-identity-store.js";

export class AgentIdentityRepository implements AgentIdentityStore {
  constructor(private readonly db: DbOrTx) {}

  async findById(id: string): Promise<AgentIdentityRow | undefined> {
    const [row] = await this.db.select().from(agentIdentities).where(eq(agentIdentities.id, id));
    return row;
  }
}
