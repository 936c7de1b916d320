import type { ServiceAccountRow } from "../records.js";
import type { PageAfter } from "./user-store.js";

export type ServiceAccountChanges = Partial<Pick<ServiceAccountRow, "name" | "scopes" | "disabled" | "secretHash" | "secretRotatedAt" | "deletedAt">>;

export interface ServiceAccountStore {
  create(sa: Pick<ServiceAccountRow, "organizationId" | "clientId" | "name" | "secretHash" | "scopes">, now: Date): Promise<ServiceAccountRow>;
  /** A live (not deleted) service account. */
  findById(id: string): Promise<ServiceAccountRow | undefined>;
  findByClientId(clientId: string): Promise<ServiceAccountRow | undefined>;
  update(id: string, set: ServiceAccountChanges, now: Date): Promise<ServiceAccountRow | undefined>;
  list(organizationId: string, limit: number, after?: PageAfter): Promise<ServiceAccountRow[]>;
}
