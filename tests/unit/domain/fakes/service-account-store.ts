import { randomUUID } from "node:crypto";
import type { ServiceAccountRow } from "../../../../src/domain/records.js";
import type { ServiceAccountChanges, ServiceAccountStore } from "../../../../src/domain/store/service-account-store.js";
import type { PageAfter } from "../../../../src/domain/store/user-store.js";
import { afterCursor, byCreated, copy, foreignKey, uniqueViolation, uuidParam, type Rows } from "./tables.js";

/** ServiceAccountRepository in memory: deleted accounts are invisible. */
export class MemoryServiceAccountStore implements ServiceAccountStore {
  constructor(private readonly rows: Rows) {}

  private get t() {
    return this.rows.tables;
  }

  async create(sa: Pick<ServiceAccountRow, "organizationId" | "clientId" | "name" | "secretHash" | "scopes">, now: Date): Promise<ServiceAccountRow> {
    if ([...this.t.serviceAccounts.values()].some((s) => s.clientId === sa.clientId)) throw uniqueViolation("service_accounts_client_id_key");
    foreignKey(this.t.organizations.has(sa.organizationId), "service_accounts_organization_id_organizations_id_fk");
    const row: ServiceAccountRow = { id: randomUUID(), ...sa, disabled: false, secretRotatedAt: null, createdAt: now, updatedAt: now, deletedAt: null };
    return this.rows.insert(this.t.serviceAccounts, row.id, row);
  }

  async findById(id: string): Promise<ServiceAccountRow | undefined> {
    const s = this.t.serviceAccounts.get(uuidParam(id));
    return s && !s.deletedAt ? copy(s) : undefined;
  }

  async findByClientId(clientId: string): Promise<ServiceAccountRow | undefined> {
    const s = [...this.t.serviceAccounts.values()].find((r) => r.clientId === clientId && !r.deletedAt);
    return s && copy(s);
  }

  async update(id: string, set: ServiceAccountChanges, now: Date): Promise<ServiceAccountRow | undefined> {
    const s = this.t.serviceAccounts.get(uuidParam(id));
    if (!s || s.deletedAt) return undefined;
    return this.rows.update(this.t.serviceAccounts, id, { ...set, updatedAt: now });
  }

  async list(organizationId: string, limit: number, after?: PageAfter): Promise<ServiceAccountRow[]> {
    return [...this.t.serviceAccounts.values()]
      .filter((s) => s.organizationId === organizationId && !s.deletedAt && afterCursor(s, s.id, after))
      .sort(byCreated((s) => s.id))
      .slice(0, limit)
      .map(copy);
  }
}
