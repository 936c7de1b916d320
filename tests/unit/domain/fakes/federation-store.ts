import type { ConnectorRow, IdentityRow } from "../../../../src/domain/records.js";
import type { ConnectorStore, IdentityStore } from "../../../../src/domain/store/federation-store.js";
import type { PageAfter } from "../../../../src/domain/store/user-store.js";
import { afterCursor, byCreated, copy, type Rows } from "./tables.js";

/** ConnectorRepository in memory. */
export class MemoryConnectorStore implements ConnectorStore {
  constructor(private readonly rows: Rows) {}

  private get connectors() {
    return this.rows.tables.connectors;
  }

  async create(c: Omit<ConnectorRow, "createdAt">, now: Date): Promise<ConnectorRow | undefined> {
    // ON CONFLICT DO NOTHING, on the id and on the issuer.
    if (this.connectors.has(c.id) || [...this.connectors.values()].some((r) => r.issuerUrl === c.issuerUrl)) return undefined;
    return this.rows.insert(this.connectors, c.id, { ...c, createdAt: now });
  }

  async find(id: string): Promise<ConnectorRow | undefined> {
    const c = this.connectors.get(id);
    return c && copy(c);
  }

  async list(limit: number, after?: PageAfter): Promise<ConnectorRow[]> {
    return [...this.connectors.values()]
      .filter((c) => afterCursor(c, c.id, after))
      .sort(byCreated((c) => c.id))
      .slice(0, limit)
      .map(copy);
  }

  async delete(id: string): Promise<ConnectorRow | undefined> {
    return this.rows.delete(this.connectors, id);
  }
}

const identityKey = (issuer: string, subject: string) => `${issuer}|${subject}`;

/** IdentityRepository in memory. */
export class MemoryIdentityStore implements IdentityStore {
  constructor(private readonly rows: Rows) {}

  private get identities() {
    return this.rows.tables.identities;
  }

  async find(issuer: string, subject: string): Promise<IdentityRow | undefined> {
    const i = this.identities.get(identityKey(issuer, subject));
    return i && copy(i);
  }

  async link(identity: Omit<IdentityRow, "createdAt">, now: Date): Promise<IdentityRow | undefined> {
    const key = identityKey(identity.issuer, identity.subject);
    if (this.identities.has(key)) return undefined; // ON CONFLICT DO NOTHING
    return this.rows.insert(this.identities, key, { ...identity, createdAt: now });
  }

  async touchEmail(issuer: string, subject: string, email: string): Promise<void> {
    this.rows.update(this.identities, identityKey(issuer, subject), { email });
  }

  async unlinkAllOf(userId: string): Promise<number> {
    const mine = [...this.identities.values()].filter((i) => i.userId === userId);
    for (const i of mine) this.rows.delete(this.identities, identityKey(i.issuer, i.subject));
    return mine.length;
  }

  async unlink(issuer: string, subject: string): Promise<void> {
    this.rows.delete(this.identities, identityKey(issuer, subject));
  }
}
