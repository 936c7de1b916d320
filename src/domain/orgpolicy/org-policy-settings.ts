import type { PolicyOutcomeKind } from "../policy/policy-decision.js";

/** An organization's zero-trust settings, as the domain reads them (defaults when never set). */
export interface OrgPolicySettings {
  organizationId: string;
  mfa: { required: boolean; allowedMethods: string[] };
  device: { requireRegistered: boolean; requireTrusted: boolean; maxPerUser: number; autoTrust: boolean };
  /** 0 means "the server's setting" (ages) or "no limit" (concurrency). */
  session: { maxAgeSeconds: number; idleTimeoutSeconds: number; maxConcurrentPerUser: number };
  accessControl: { allow: string[]; block: string[]; defaultAction: "allow" | "block" };
  defaultPolicyOutcome: PolicyOutcomeKind;
  version: number;
  updatedAt: Date | null;
}

export function defaultOrgPolicySettings(organizationId: string): OrgPolicySettings {
  return {
    organizationId,
    mfa: { required: false, allowedMethods: [] },
    device: { requireRegistered: false, requireTrusted: false, maxPerUser: 0, autoTrust: false },
    session: { maxAgeSeconds: 0, idleTimeoutSeconds: 0, maxConcurrentPerUser: 0 },
    accessControl: { allow: [], block: [], defaultAction: "allow" },
    defaultPolicyOutcome: "allow",
    version: 0,
    updatedAt: null,
  };
}

/** Reads an organization's settings; cached per instance and dropped on every instance when they change. */
export interface OrgPolicyReader {
  settings(organizationId: string): Promise<OrgPolicySettings>;
}
