import type { DeviceRow } from "../records.js";

export type DeviceChallengePurpose = "register" | "sign_in" | "refresh";

/** A device's answer to a challenge, as a request carries it. */
export interface DeviceProofInput {
  deviceId: string;
  challengeId: string;
  signature: Uint8Array;
}

/**
 * Checks a device proof: the challenge exists, is unused and unexpired, was made for this device
 * and purpose, and is consumed in one statement (single use even under races); the signature
 * verifies under the device's key; the device is not revoked and belongs to `userId`.
 * Throws unauthenticated DEVICE_PROOF_INVALID (or DEVICE_REVOKED); returns the device.
 */
export interface DeviceProofVerifier {
  verify(proof: DeviceProofInput, purpose: "sign_in" | "refresh", userId: string): Promise<DeviceRow>;
}
