import type { ApiKeyRow } from "../records.js";
import type { PageAfter } from "./user-store.js";

export type NewApiKey = Pick<ApiKeyRow, "organizationId" | "name" | "keyHash" | "prefix" | "scopes" | "ownerUserId" | "ownerServiceAccountId" | "expiresAt">;

export interface ApiKeyStore {
  create(key: NewApiKey, now: Date): Promise<ApiKeyRow>;
  findByHash(keyHash: string): Promise<ApiKeyRow | undefined>;
  findById(id: string): Promise<ApiKeyRow | undefined>;
  /** Undefined when the key was revoked already. */
  revoke(id: string, at: Date): Promise<ApiKeyRow | undefined>;
  /**
   * Marks a live key as replaced and sets when it stops working, in one statement: of two
   * concurrent rotations of the same key, exactly one claims it.
   */
  claimForRotation(id: string, replacedBy: string, revokeAt: Date): Promise<ApiKeyRow | undefined>;
  touch(id: string, now: Date): Promise<void>;
  list(organizationId: string, limit: number, opts: { ownerUserId?: string; cursor?: PageAfter }): Promise<ApiKeyRow[]>;
  /** Ids of the keys it revoked. */
  revokeAllOfServiceAccount(serviceAccountId: string, at: Date): Promise<string[]>;
  /** Revokes every live key a user owns; ids of the keys it revoked. */
  revokeAllOfUser(userId: string, at: Date): Promise<string[]>;
}
