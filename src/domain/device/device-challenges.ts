import type { Clock } from "../../clock.js";
import { randomToken, sha256Hex } from "../../crypto/random.js";
import type { DeviceChallengeRow } from "../records.js";
import type { ChallengeBinding, DeviceStore } from "../store/device-store.js";

/** A challenge as the client receives it. */
export interface IssuedChallenge {
  /** `dch_<base64url>`; only its SHA-256 is stored. */
  challengeId: string;
  /** The exact string the device signs (its UTF-8 bytes). */
  payload: string;
  expiresAt: Date;
}

export const CHALLENGE_TTL_SECONDS = 300;
const CHALLENGE_ID = /^dch_[A-Za-z0-9_-]{43}$/;
const PAYLOAD_VERSION = "warden-device-v1";
const SWEEP_INTERVAL_MS = 60_000;
const SWEEP_BATCH = 1000;

/**
 * Single-use challenges a device signs. The payload names what it is for (purpose, device or
 * key, and for registration the organization and user), so a signature made for one use can
 * never be presented for another, and the row is bound to the same things.
 */
export class DeviceChallenges {
  private lastSweep = 0;

  constructor(
    private readonly d: {
      store: { devices: Pick<DeviceStore, "createChallenge" | "consumeChallenge" | "deleteExpiredChallenges"> };
      clock: Clock;
    },
  ) {}

  async issue(binding: ChallengeBinding): Promise<IssuedChallenge> {
    const now = this.d.clock.now();
    await this.sweep(now);
    const challengeId = `dch_${randomToken(32)}`;
    const payload = payloadOf(binding, randomToken(24));
    const expiresAt = new Date(now.getTime() + CHALLENGE_TTL_SECONDS * 1000);
    await this.d.store.devices.createChallenge({
      id: sha256Hex(challengeId),
      purpose: binding.purpose,
      deviceId: binding.purpose === "register" ? null : binding.deviceId,
      keyFingerprint: binding.purpose === "register" ? binding.keyFingerprint : null,
      userId: binding.purpose === "register" ? binding.userId : null,
      organizationId: binding.purpose === "register" ? binding.organizationId : null,
      payload,
      createdAt: now,
      expiresAt,
    });
    return { challengeId, payload, expiresAt };
  }

  /** The challenge, now used, if it was unused, unexpired and made for exactly this binding. */
  async consume(challengeId: string, binding: ChallengeBinding): Promise<DeviceChallengeRow | undefined> {
    if (!CHALLENGE_ID.test(challengeId)) return undefined;
    return this.d.store.devices.consumeChallenge(sha256Hex(challengeId), binding, this.d.clock.now());
  }

  /** Expired challenges are useless: a batch of them goes now and then as new ones are made. */
  private async sweep(now: Date): Promise<void> {
    if (now.getTime() - this.lastSweep < SWEEP_INTERVAL_MS) return;
    this.lastSweep = now.getTime();
    await this.d.store.devices.deleteExpiredChallenges(now, SWEEP_BATCH);
  }
}

function payloadOf(binding: ChallengeBinding, nonce: string): string {
  if (binding.purpose === "register")
    return [PAYLOAD_VERSION, "register", binding.keyFingerprint, `org=${binding.organizationId}`, `user=${binding.userId}`, nonce].join(":");
  return [PAYLOAD_VERSION, binding.purpose, binding.deviceId, nonce].join(":");
}
