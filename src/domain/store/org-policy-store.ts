import type { OrgPolicySettings } from "../orgpolicy/org-policy-settings.js";
import type { OrgPolicyConfigRow } from "../records.js";

/** What org_policy_configs holds (mfa.required lives in organizations.require_mfa). */
export interface OrgPolicyDocument {
  mfa: { allowedMethods: string[] };
  device: OrgPolicySettings["device"];
  session: OrgPolicySettings["session"];
  accessControl: OrgPolicySettings["accessControl"];
  defaultPolicyOutcome: OrgPolicySettings["defaultPolicyOutcome"];
}

/** An organization's stored settings: its require_mfa bit, and its config row once one was written. */
export interface StoredOrgPolicy {
  requireMfa: boolean;
  config?: OrgPolicyConfigRow;
}

export interface OrgPolicyStore {
  /** Undefined when the organization does not exist or is deleted. One query. */
  find(organizationId: string): Promise<StoredOrgPolicy | undefined>;
  /**
   * Writes the given parts (the others are kept; a first write takes them from `initial`) and
   * adds one to the version in the same statement (1 on the first write). With expectedVersion,
   * writes only a row still at that version and returns undefined otherwise.
   */
  save(
    organizationId: string,
    write: { parts: Partial<OrgPolicyDocument>; initial: OrgPolicyDocument },
    now: Date,
    expectedVersion?: number,
  ): Promise<OrgPolicyConfigRow | undefined>;
}
