import { randomUUID } from "node:crypto";
import type { ApiKeyRow } from "../../../../src/domain/records.js";
import type { ApiKeyStore, NewApiKey } from "../../../../src/domain/store/api-key-store.js";
import type { PageAfter } from "../../../../src/domain/store/user-store.js";
import { afterCursor, byCreated, copy, foreignKey, uniqueViolation, uuidParam, type Rows } from "./tables.js";

/** ApiKeyRepository in memory. */
export class MemoryApiKeyStore implements ApiKeyStore {
  constructor(private readonly rows: Rows) {}

  private get t() {
    return this.rows.tables;
  }

  async create(key: NewApiKey, now: Date): Promise<ApiKeyRow> {
    if ([...this.t.apiKeys.values()].some((k) => k.keyHash === key.keyHash)) throw uniqueViolation("api_keys_hash_key");
    foreignKey(this.t.organizations.has(key.organizationId), "api_keys_organization_id_organizations_id_fk");
    const row: ApiKeyRow = { id: randomUUID(), ...key, createdAt: now, revokedAt: null, lastUsedAt: null, replacedBy: null };
    return this.rows.insert(this.t.apiKeys, row.id, row);
  }

  async findByHash(keyHash: string): Promise<ApiKeyRow | undefined> {
    const k = [...this.t.apiKeys.values()].find((r) => r.keyHash === keyHash);
    return k && copy(k);
  }

  async findById(id: string): Promise<ApiKeyRow | undefined> {
    const k = this.t.apiKeys.get(uuidParam(id));
    return k && copy(k);
  }

  async revoke(id: string, at: Date): Promise<ApiKeyRow | undefined> {
    const k = this.t.apiKeys.get(uuidParam(id));
    if (!k || k.revokedAt) return undefined;
    return this.rows.update(this.t.apiKeys, id, { revokedAt: at });
  }

  async claimForRotation(id: string, replacedBy: string, revokeAt: Date): Promise<ApiKeyRow | undefined> {
    const k = this.t.apiKeys.get(uuidParam(id));
    if (!k || k.replacedBy || k.revokedAt) return undefined;
    return this.rows.update(this.t.apiKeys, id, { replacedBy, revokedAt: revokeAt });
  }

  async touch(id: string, now: Date): Promise<void> {
    this.rows.update(this.t.apiKeys, uuidParam(id), { lastUsedAt: now });
  }

  async list(organizationId: string, limit: number, opts: { ownerUserId?: string; cursor?: PageAfter }): Promise<ApiKeyRow[]> {
    return [...this.t.apiKeys.values()]
      .filter((k) => k.organizationId === organizationId && (!opts.ownerUserId || k.ownerUserId === opts.ownerUserId) && afterCursor(k, k.id, opts.cursor))
      .sort(byCreated((k) => k.id))
      .slice(0, limit)
      .map(copy);
  }

  async revokeAllOfUser(userId: string, at: Date): Promise<string[]> {
    const ids = [...this.t.apiKeys.values()].filter((k) => k.ownerUserId === userId && (!k.revokedAt || k.revokedAt > at)).map((k) => k.id);
    for (const id of ids) this.rows.update(this.t.apiKeys, id, { revokedAt: at });
    return ids;
  }

  async revokeAllOfServiceAccount(serviceAccountId: string, at: Date): Promise<string[]> {
    const ids = [...this.t.apiKeys.values()].filter((k) => k.ownerServiceAccountId === serviceAccountId && !k.revokedAt).map((k) => k.id);
    for (const id of ids) this.rows.update(this.t.apiKeys, id, { revokedAt: at });
    return ids;
  }
}
