import type { DeviceRow } from "../records.js";

/** A device's last posture report, or `known: false` when none came or it is too old to rely on. */
export interface DevicePostureView {
  known: boolean;
  os: string;
  osVersion: string;
  diskEncrypted: boolean;
  screenLock: boolean;
  agentVersion: string;
  reportedAt: Date | null;
  ageSeconds: number;
}

const UNKNOWN: Omit<DevicePostureView, "reportedAt" | "ageSeconds"> = {
  known: false,
  os: "",
  osVersion: "",
  diskEncrypted: false,
  screenLock: false,
  agentVersion: "",
};

/**
 * Stale posture counts as unknown, never as the last good report: a laptop that stopped
 * reporting may have turned its disk encryption off since.
 */
export function postureOf(device: DeviceRow, now: Date, maxAgeSeconds: number): DevicePostureView {
  const at = device.postureAt;
  const ageSeconds = at ? Math.max(0, Math.floor((now.getTime() - at.getTime()) / 1000)) : 0;
  if (!at || ageSeconds > maxAgeSeconds) return { ...UNKNOWN, reportedAt: at, ageSeconds };
  return {
    known: true,
    os: device.postureOs ?? "",
    osVersion: device.postureOsVersion ?? "",
    diskEncrypted: device.postureDiskEncrypted ?? false,
    screenLock: device.postureScreenLock ?? false,
    agentVersion: device.postureAgentVersion ?? "",
    reportedAt: at,
    ageSeconds,
  };
}
