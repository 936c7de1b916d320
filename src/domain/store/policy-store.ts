import type { AccessPolicyRow } from "../records.js";

/** What a policy holds besides its id and times (language "cel" | "rego", outcome "allow" | "deny" | "require_mfa"). */
export type PolicyFields = Pick<AccessPolicyRow, "name" | "language" | "source" | "outcome" | "message" | "priority" | "enabled">;

export interface PolicyStore {
  /** Undefined when the organization has a policy of this name. */
  create(p: PolicyFields & { organizationId: string }, now: Date): Promise<AccessPolicyRow | undefined>;
  findById(id: string): Promise<AccessPolicyRow | undefined>;
  /** "name_taken" when another policy of the organization has the new name. */
  update(id: string, set: PolicyFields, now: Date): Promise<AccessPolicyRow | "name_taken" | undefined>;
  delete(id: string): Promise<AccessPolicyRow | undefined>;
  /** One page, priority (highest first) then id. */
  list(organizationId: string, limit: number, after?: { priority: number; id: string }): Promise<AccessPolicyRow[]>;
  /** The enabled policies the evaluator compiles, at most `limit`. */
  listEnabled(organizationId: string, limit: number): Promise<AccessPolicyRow[]>;
  count(organizationId: string): Promise<number>;
}
