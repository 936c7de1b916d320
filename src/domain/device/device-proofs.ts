import type { Clock } from "../../clock.js";
import { invalidArgument, unauthenticated } from "../errors.js";
import { isUuid } from "../ids.js";
import type { DeviceRow } from "../records.js";
import type { DeviceStore } from "../store/device-store.js";
import type { DeviceChallenges, IssuedChallenge } from "./device-challenges.js";
import { storedDeviceKey, verifyDeviceSignature } from "./device-keys.js";
import type { DeviceProofInput, DeviceProofVerifier } from "./device-proof.js";

export interface DeviceProofsDeps {
  store: { devices: Pick<DeviceStore, "findById" | "touchSeen"> };
  challenges: DeviceChallenges;
  clock: Clock;
}

const invalidProof = () => unauthenticated("DEVICE_PROOF_INVALID", "the device challenge is unknown, used or expired, or the signature does not verify");

/**
 * Device-bound sign-in and refresh: a challenge for a device, and the check of its answer.
 */
export class DeviceProofs implements DeviceProofVerifier {
  constructor(private readonly d: DeviceProofsDeps) {}

  /**
   * A challenge for the device. The device is not looked up: unknown and revoked devices get
   * one just the same (same shape, same work, stored alike), so the answer says nothing about
   * which devices exist; the proof is what fails for them, like any wrong one.
   */
  async challenge(deviceId: string, purpose: "sign_in" | "refresh"): Promise<IssuedChallenge> {
    if (!isUuid(deviceId)) throw invalidArgument("device_id", "is not a valid id");
    return this.d.challenges.issue({ purpose, deviceId });
  }

  async verify(proof: DeviceProofInput, purpose: "sign_in" | "refresh", userId: string): Promise<DeviceRow> {
    if (!isUuid(proof.deviceId)) throw invalidProof();
    const challenge = await this.d.challenges.consume(proof.challengeId, { purpose, deviceId: proof.deviceId });
    if (!challenge) throw invalidProof();
    const device = await this.d.store.devices.findById(proof.deviceId);
    const key = device && storedDeviceKey(device);
    if (!device || !key || !verifyDeviceSignature(key, challenge.payload, proof.signature)) throw invalidProof();
    // Only the key's holder gets this far, so telling it the device is revoked reveals nothing.
    if (device.userId !== userId) throw invalidProof();
    if (device.revokedAt) throw unauthenticated("DEVICE_REVOKED", "the device was revoked");
    const seen = await this.d.store.devices.touchSeen(device.id, this.d.clock.now());
    if (!seen) throw unauthenticated("DEVICE_REVOKED", "the device was revoked");
    return seen;
  }
}
