import { and, desc, eq, isNull, lt, or } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { agentIdentities, agentIdentityTokens, type AgentIdentityRow, type AgentIdentityTokenRow } from "../schema/index.js";
import type { AgentIdentityChange, AgentIdentityListing, AgentIdentityStore } from "../../domain/store/agent-identity-store.js";

const a = agentIdentities;
const tok = agentIdentityTokens;

export class AgentIdentityRepository implements AgentIdentityStore {
  constructor(private readonly db: DbOrTx) {}

  async findById(id: string): Promise<AgentIdentityRow | undefined> {
    const [row] = await this.db.select().from(a).where(eq(a.id, id));
    return row;
  }

  async create(row: Omit<AgentIdentityRow, "id">): Promise<AgentIdentityRow | undefined> {
    const [created] = await this.db.insert(a).values(row).onConflictDoNothing({ target: a.name }).returning();
    return created;
  }

  async list(limit: number, after?: { createdAt: Date; id: string }): Promise<AgentIdentityListing[]> {
    const older = after ? or(lt(a.createdAt, after.createdAt), and(eq(a.createdAt, after.createdAt), lt(a.id, after.id))) : undefined;
    const rows = await this.db
      .select({ identity: a, bootstrapExpiresAt: tok.expiresAt })
      .from(a)
      .leftJoin(tok, and(eq(tok.identityId, a.id), eq(tok.kind, "bootstrap")))
      .where(older)
      .orderBy(desc(a.createdAt), desc(a.id))
      .limit(limit);
    return rows.map((r) => ({ ...r.identity, bootstrapExpiresAt: r.bootstrapExpiresAt ?? undefined }));
  }

  async delete(id: string): Promise<AgentIdentityRow | undefined> {
    const [deleted] = await this.db.delete(a).where(eq(a.id, id)).returning();
    return deleted;
  }

  async lockById(id: string): Promise<AgentIdentityRow | undefined> {
    const [row] = await this.db.select().from(a).where(eq(a.id, id)).for("update");
    return row;
  }

  async update(id: string, change: AgentIdentityChange): Promise<AgentIdentityRow | undefined> {
    const [row] = await this.db.update(a).set(change).where(eq(a.id, id)).returning();
    return row;
  }

  async addToken(row: AgentIdentityTokenRow): Promise<void> {
    await this.db.insert(tok).values(row);
  }

  async findToken(tokenHash: string): Promise<AgentIdentityTokenRow | undefined> {
    const [row] = await this.db.select().from(tok).where(eq(tok.tokenHash, tokenHash));
    return row;
  }

  async useToken(tokenHash: string, at: Date): Promise<boolean> {
    const used = await this.db
      .update(tok)
      .set({ usedAt: at })
      .where(and(eq(tok.tokenHash, tokenHash), isNull(tok.usedAt)))
      .returning({ tokenHash: tok.tokenHash });
    return used.length > 0;
  }
}
