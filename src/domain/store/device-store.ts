import type { DeviceChallengeRow, DeviceRow } from "../records.js";
import type { PageAfter } from "./user-store.js";

export type NewDevice = Pick<
  DeviceRow,
  "organizationId" | "userId" | "name" | "platform" | "keyType" | "publicKey" | "keyFingerprint" | "trusted" | "createdAt"
>;

export type NewDeviceChallenge = Omit<DeviceChallengeRow, "usedAt">;

/** What a challenge must have been made for to be used: a device's sign-in or refresh, or a key's registration. */
export type ChallengeBinding =
  { purpose: "sign_in" | "refresh"; deviceId: string } | { purpose: "register"; userId: string; organizationId: string; keyFingerprint: string };

/** Storage port of the device area: devices, their challenges, and the sessions bound to them. */
export interface DeviceStore {
  findById(id: string): Promise<DeviceRow | undefined>;
  /** The live (unrevoked) device with this key in the organization. */
  findLiveByFingerprint(organizationId: string, keyFingerprint: string): Promise<DeviceRow | undefined>;
  /**
   * Serializes registrations of one user in one organization until the transaction ends, so
   * that two parallel registrations cannot both pass the per-user limit.
   */
  lockRegistrations(organizationId: string, userId: string): Promise<void>;
  countLive(organizationId: string, userId: string): Promise<number>;
  /** Undefined when the key is live in the organization already (the partial unique index). */
  insert(device: NewDevice): Promise<DeviceRow | undefined>;
  list(organizationId: string, limit: number, opts: { userId?: string; includeRevoked: boolean; after?: PageAfter }): Promise<DeviceRow[]>;
  /** Undefined when the device was revoked already (or does not exist). */
  revoke(id: string, now: Date): Promise<DeviceRow | undefined>;
  /** Ends every live session bound to the device; the ids of those it ended. */
  revokeBoundSessions(deviceId: string, now: Date): Promise<string[]>;
  /** Undefined when the device is revoked. */
  setTrusted(id: string, trusted: boolean): Promise<DeviceRow | undefined>;
  /** Records a successful proof; undefined when the device was revoked meanwhile. */
  touchSeen(id: string, now: Date): Promise<DeviceRow | undefined>;

  createChallenge(challenge: NewDeviceChallenge): Promise<void>;
  /**
   * Uses a challenge once, in one statement: unused, unexpired and made for this binding, or
   * nothing (of two racing uses exactly one gets the row).
   */
  consumeChallenge(idHash: string, binding: ChallengeBinding, now: Date): Promise<DeviceChallengeRow | undefined>;
  /** Deletes up to `limit` challenges that expired before `before`; how many it deleted. */
  deleteExpiredChallenges(before: Date, limit: number): Promise<number>;
}
