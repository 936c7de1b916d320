import { beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/clock.js";
import { AuditLog } from "../../../src/domain/audit/audit-log.js";
import type { AuditEntry } from "../../../src/domain/audit/audit-event.js";
import { ChainVerifier } from "../../../src/domain/audit/chain-verifier.js";
import type { NewSession } from "../../../src/domain/store/session-store.js";
import { TEST_CHAIN_KEYS } from "./fakes/audit-store.js";
import { MemoryStore } from "./fakes/memory-store.js";
import { START } from "./fakes/world.js";

/** The fakes are only as good as their semantics: these check the ones the rule tests lean on. */
describe("MemoryStore", () => {
  let store: MemoryStore;
  let userId: string;
  const now = START;
  const event: AuditEntry = { eventType: "auth.login", outcome: "success", actorType: "user", actorId: "u" };
  const session = (id: string): NewSession => ({
    id,
    secretHash: "h",
    userId,
    authMethod: "password",
    clientIp: "",
    userAgent: "",
    expiresAt: new Date(now.getTime() + 3600_000),
    network: "unknown",
  });

  beforeEach(async () => {
    store = new MemoryStore();
    userId = (await store.users.create({ email: "a@example.test", displayName: "a", passwordHash: null }, now))!.id;
  });

  it("undoes a throwing transaction's writes, and only its own", async () => {
    const failed = store.transaction(async (tx) => {
      await tx.users.update(userId, { displayName: "changed" }, now);
      await tx.audit.append(event, now);
      await store.audit.append({ ...event, eventType: "auth.logout" }, now); // outside the transaction
      await tx.users.softDelete(userId, now);
      throw new Error("boom");
    });
    await expect(failed).rejects.toThrow("boom");

    expect(await store.users.findById(userId)).toMatchObject({ displayName: "a", deletedAt: null });
    expect(store.audited().map((e) => e.eventType)).toEqual(["auth.logout"]);
    expect(store.transactions).toEqual({ committed: 0, rolledBack: 1 });
  });

  it("writes a session, its refresh token and its event together or not at all", async () => {
    await store.sessions.createWithAudit(session("s1"), "t1", event, now);
    // The refresh token's key is taken: the whole statement fails, the new session with it.
    await expect(store.sessions.createWithAudit(session("s2"), "t1", event, now)).rejects.toThrow(/duplicate key/);

    expect([...store.tables.sessions.keys()]).toEqual(["s1"]);
    expect(store.audited()).toHaveLength(1);
  });

  it("fails one call only when told to, through the store or a transaction", async () => {
    store.failNext("users", "findById", new Error("connection reset"));
    await expect(store.transaction((tx) => tx.users.findById(userId))).rejects.toThrow("connection reset");
    await expect(store.users.findById(userId)).resolves.toBeDefined();
    expect(store.callCount("users.findById")).toBe(2);
  });

  it("hands out copies: changing a returned row changes nothing stored", async () => {
    const created = await store.sessions.createWithAudit(session("s1"), "t1", event, now);
    created.lastSeenAt = new Date(0);
    (await store.sessions.findById("s1"))!.revokedAt = new Date(0);
    expect(store.tables.sessions.get("s1")).toMatchObject({ lastSeenAt: now, revokedAt: null });
  });

  it("chains the audit log as the database does (keyed links): ChainVerifier accepts it and notices an edit", async () => {
    const log = new AuditLog(store, new ManualClock(now));
    // No checkpoints here: a checker that is never asked.
    const verifier = new ChainVerifier({ store, keys: TEST_CHAIN_KEYS, signer: { checker: async () => async () => ({ problem: "unexpected" }) } });
    for (const eventType of ["auth.login", "auth.refresh", "auth.logout"] as const) await log.recordAlone({ ...event, eventType });
    expect(await verifier.verify()).toMatchObject({ intact: true, checked: 3 });

    const second = store.tables.auditEvents.get(2)!;
    store.tables.auditEvents.set(2, { ...second, actorId: "someone else" });
    expect(await verifier.verify()).toMatchObject({ intact: false, firstBrokenSequence: 2, failedCheck: "key" });
  });

  it("claims a refresh token once and revokes a session once", async () => {
    await store.sessions.createWithAudit(session("s1"), "t1", event, now);
    const use = { usedBy: "client", successorSealed: "sealed" };
    expect(await store.sessions.claimRefreshToken("t1", now, use)).toEqual({ sessionId: "s1", generation: 1 });
    expect(await store.sessions.claimRefreshToken("t1", now, { usedBy: "other", successorSealed: "other" })).toBeUndefined();
    expect(await store.sessions.findRefreshToken("t1"), "the first claim's use is kept").toMatchObject({ usedAt: now, ...use });
    expect(await store.sessions.revoke("s1", "logout", now)).toMatchObject({ revokeReason: "logout" });
    expect(await store.sessions.revoke("s1", "again", now)).toBeUndefined();
  });

  it("claims only an unused, unexpired MFA challenge", async () => {
    const challenge = (id: string, ttl: number) =>
      store.mfa.createChallenge({ id, userId, authMethod: "password", clientIp: "", userAgent: "", createdAt: now, expiresAt: new Date(now.getTime() + ttl) });
    await challenge("fresh", 1000);
    await challenge("stale", 0);
    expect(await store.mfa.claimChallenge("stale", now)).toBeUndefined();
    expect(await store.mfa.claimChallenge("fresh", now)).toMatchObject({ usedAt: now });
    expect(await store.mfa.claimChallenge("fresh", now)).toBeUndefined();
  });

  it("hides soft-deleted users and does not count them as owners", async () => {
    const other = (await store.users.create({ email: "b@example.test", displayName: "b", passwordHash: null }, now))!;
    const org = await store.orgs.create({ name: "o", tier: "free", createdBy: userId }, now);
    await store.orgs.addMember({ organizationId: org.id, userId, role: "owner" }, now);
    await store.orgs.addMember({ organizationId: org.id, userId: other.id, role: "owner" }, now);
    expect(await store.orgs.soleOwnerOf(userId)).toEqual([]);

    await store.users.softDelete(other.id, now);
    expect(await store.users.findById(other.id)).toBeUndefined();
    expect(await store.orgs.lockOwners(org.id)).toEqual([userId]);
    expect(await store.orgs.soleOwnerOf(userId)).toEqual([org.id]);
    // The address is free again, as the repository's suffix makes it.
    expect(await store.users.create({ email: "b@example.test", displayName: "b", passwordHash: null }, now)).toBeDefined();
  });
});
