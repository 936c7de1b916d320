import type { DeviceProofVerifier } from "../domain/device/device-proof.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { OrgPolicyArea } from "./org-policy.js";
import type { SessionsArea } from "./sessions.js";
import { notYet } from "./not-yet.js";

export interface DevicesArea {
  proofs: DeviceProofVerifier;
  handlers: Pick<ServiceHandlers, "device">;
}

/** Devices: key registration with a possession proof, trust, revocation, device-bound sessions. */
export function wireDevices(core: Core, deps: { sessions: SessionsArea; orgPolicy: OrgPolicyArea }): DevicesArea {
  void core;
  void deps;
  return { proofs: notYet("device proofs"), handlers: { device: notYet("DeviceService") } };
}
