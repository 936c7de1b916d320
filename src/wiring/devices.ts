import { DeviceAccess } from "../domain/device/device-access.js";
import { DeviceChallenges } from "../domain/device/device-challenges.js";
import { DeviceProofs } from "../domain/device/device-proofs.js";
import { DeviceRegistration } from "../domain/device/device-registration.js";
import { Devices } from "../domain/device/devices.js";
import { deviceHandlers } from "../handlers/device.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { OrgPolicyArea } from "./org-policy.js";
import type { SessionsArea } from "./sessions.js";

export interface DevicesArea {
  /** Checks the device_proof of a device-bound sign-in or refresh. */
  proofs: DeviceProofs;
  devices: Devices;
  handlers: Pick<ServiceHandlers, "device">;
}

/** Devices: key registration with a possession proof, trust, revocation, device-bound sessions. */
export function wireDevices(core: Core, deps: { sessions: SessionsArea; orgPolicy: OrgPolicyArea }): DevicesArea {
  const { config, store, clock, audit, bus } = core;
  const challenges = new DeviceChallenges({ store, clock });
  const access = new DeviceAccess({ store, orgAccess: core.orgAccess });
  const devices = new Devices({
    store,
    clock,
    audit,
    bus,
    access,
    sessionsRevoked: (ids) => deps.sessions.sessions.revoked(ids),
    postureMaxAgeSeconds: config.device_posture_max_age,
  });
  const registration = new DeviceRegistration({ store, clock, audit, challenges, orgPolicy: deps.orgPolicy.reader });
  const proofs = new DeviceProofs({ store, challenges, clock });
  return { proofs, devices, handlers: { device: deviceHandlers(devices, registration, proofs) } };
}
