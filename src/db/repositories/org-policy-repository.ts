import { and, eq, isNull, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { isUuid } from "../../domain/ids.js";
import { orgPolicyConfigs, organizations, type OrgPolicyConfigRow } from "../schema/index.js";
import type { OrgPolicyDocument, OrgPolicyStore, StoredOrgPolicy } from "../../domain/store/org-policy-store.js";

/** The document's parts as column values; absent parts are left out (and so kept on update). */
function columnsOf(parts: Partial<OrgPolicyDocument>) {
  return {
    ...(parts.mfa && { mfa: parts.mfa }),
    ...(parts.device && { device: parts.device }),
    ...(parts.session && { session: parts.session }),
    ...(parts.accessControl && { accessControl: parts.accessControl }),
    ...(parts.defaultPolicyOutcome && { defaultPolicyOutcome: parts.defaultPolicyOutcome }),
  };
}

export class OrgPolicyRepository implements OrgPolicyStore {
  constructor(private readonly db: DbOrTx) {}

  async find(organizationId: string): Promise<StoredOrgPolicy | undefined> {
    if (!isUuid(organizationId)) return undefined;
    const [row] = await this.db
      .select({ requireMfa: organizations.requireMfa, config: orgPolicyConfigs })
      .from(organizations)
      .leftJoin(orgPolicyConfigs, eq(orgPolicyConfigs.organizationId, organizations.id))
      .where(and(eq(organizations.id, organizationId), isNull(organizations.deletedAt)));
    if (!row) return undefined;
    return { requireMfa: row.requireMfa, config: row.config ?? undefined };
  }

  async save(
    organizationId: string,
    write: { parts: Partial<OrgPolicyDocument>; initial: OrgPolicyDocument },
    now: Date,
    expectedVersion?: number,
  ): Promise<OrgPolicyConfigRow | undefined> {
    const bump = { ...columnsOf(write.parts), version: sql`${orgPolicyConfigs.version} + 1`, updatedAt: now };
    if (expectedVersion !== undefined) {
      // A conditional update: a row at another version (or none yet, version 0) is not written.
      const [row] = await this.db
        .update(orgPolicyConfigs)
        .set(bump)
        .where(and(eq(orgPolicyConfigs.organizationId, organizationId), eq(orgPolicyConfigs.version, expectedVersion)))
        .returning();
      return row;
    }
    const [row] = await this.db
      .insert(orgPolicyConfigs)
      .values({ organizationId, ...write.initial, ...columnsOf(write.parts), version: 1, updatedAt: now })
      .onConflictDoUpdate({ target: orgPolicyConfigs.organizationId, set: bump })
      .returning();
    return row;
  }
}
