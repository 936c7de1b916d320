import { and, asc, eq, gt, inArray, isNull, lt, or, sql, type SQL } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { deviceChallenges, devices, sessions, type DeviceChallengeRow, type DeviceRow } from "../schema/index.js";
import type { ChallengeBinding, DeviceStore, NewDevice, NewDeviceChallenge } from "../../domain/store/device-store.js";
import type { PageAfter } from "../../domain/store/user-store.js";

export class DeviceRepository implements DeviceStore {
  constructor(private readonly db: DbOrTx) {}

  async findById(id: string): Promise<DeviceRow | undefined> {
    const [row] = await this.db.select().from(devices).where(eq(devices.id, id));
    return row;
  }

  async findLiveByFingerprint(organizationId: string, keyFingerprint: string): Promise<DeviceRow | undefined> {
    const [row] = await this.db
      .select()
      .from(devices)
      .where(and(eq(devices.organizationId, organizationId), eq(devices.keyFingerprint, keyFingerprint), isNull(devices.revokedAt)));
    return row;
  }

  async lockRegistrations(organizationId: string, userId: string): Promise<void> {
    // Released at commit or rollback; the key is a hash of user and organization (a collision only serializes more).
    await this.db.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`device-register:${organizationId}:${userId}`}, 0))`);
  }

  async countLive(organizationId: string, userId: string): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(devices)
      .where(and(eq(devices.organizationId, organizationId), eq(devices.userId, userId), isNull(devices.revokedAt)));
    return Number(row?.n ?? 0);
  }

  async insert(device: NewDevice): Promise<DeviceRow | undefined> {
    const [row] = await this.db.insert(devices).values(device).onConflictDoNothing().returning();
    return row;
  }

  async list(organizationId: string, limit: number, opts: { userId?: string; includeRevoked: boolean; after?: PageAfter }): Promise<DeviceRow[]> {
    const conditions: SQL[] = [eq(devices.organizationId, organizationId)];
    if (opts.userId) conditions.push(eq(devices.userId, opts.userId));
    if (!opts.includeRevoked) conditions.push(isNull(devices.revokedAt));
    if (opts.after)
      conditions.push(or(gt(devices.createdAt, opts.after.createdAt), and(eq(devices.createdAt, opts.after.createdAt), gt(devices.id, opts.after.id)))!);
    return this.db
      .select()
      .from(devices)
      .where(and(...conditions))
      .orderBy(asc(devices.createdAt), asc(devices.id))
      .limit(limit);
  }

  async revoke(id: string, now: Date): Promise<DeviceRow | undefined> {
    const [row] = await this.db
      .update(devices)
      .set({ revokedAt: now })
      .where(and(eq(devices.id, id), isNull(devices.revokedAt)))
      .returning();
    return row;
  }

  async revokeBoundSessions(deviceId: string, now: Date): Promise<string[]> {
    const rows = await this.db
      .update(sessions)
      .set({ revokedAt: now, revokeReason: "device_revoked" })
      .where(and(eq(sessions.deviceId, deviceId), isNull(sessions.revokedAt)))
      .returning({ id: sessions.id });
    return rows.map((r) => r.id);
  }

  async setTrusted(id: string, trusted: boolean): Promise<DeviceRow | undefined> {
    const [row] = await this.db
      .update(devices)
      .set({ trusted })
      .where(and(eq(devices.id, id), isNull(devices.revokedAt)))
      .returning();
    return row;
  }

  async touchSeen(id: string, now: Date): Promise<DeviceRow | undefined> {
    const [row] = await this.db
      .update(devices)
      .set({ lastSeenAt: now })
      .where(and(eq(devices.id, id), isNull(devices.revokedAt)))
      .returning();
    return row;
  }

  async createChallenge(challenge: NewDeviceChallenge): Promise<void> {
    await this.db.insert(deviceChallenges).values(challenge);
  }

  async consumeChallenge(idHash: string, binding: ChallengeBinding, now: Date): Promise<DeviceChallengeRow | undefined> {
    const conditions: SQL[] = [
      eq(deviceChallenges.id, idHash),
      eq(deviceChallenges.purpose, binding.purpose),
      isNull(deviceChallenges.usedAt),
      gt(deviceChallenges.expiresAt, now),
    ];
    if (binding.purpose === "register")
      conditions.push(
        eq(deviceChallenges.userId, binding.userId),
        eq(deviceChallenges.organizationId, binding.organizationId),
        eq(deviceChallenges.keyFingerprint, binding.keyFingerprint),
      );
    else conditions.push(eq(deviceChallenges.deviceId, binding.deviceId));
    const [row] = await this.db
      .update(deviceChallenges)
      .set({ usedAt: now })
      .where(and(...conditions))
      .returning();
    return row;
  }

  async deleteExpiredChallenges(before: Date, limit: number): Promise<number> {
    // Bounded, so a backlog is worked off a batch at a time instead of in one long statement.
    const batch = this.db.select({ id: deviceChallenges.id }).from(deviceChallenges).where(lt(deviceChallenges.expiresAt, before)).limit(limit);
    const rows = await this.db.delete(deviceChallenges).where(inArray(deviceChallenges.id, batch)).returning({ id: deviceChallenges.id });
    return rows.length;
  }
}
