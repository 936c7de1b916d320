import type { OrgPolicyReader } from "../domain/orgpolicy/org-policy-settings.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import { notYet } from "./not-yet.js";

export interface OrgPolicyArea {
  reader: OrgPolicyReader;
  handlers: Pick<ServiceHandlers, "orgPolicy">;
}

/** Organizations' zero-trust settings (MFA, devices, sessions, URL access) and URL checks. */
export function wireOrgPolicy(core: Core): OrgPolicyArea {
  void core;
  return { reader: notYet("org policy reader"), handlers: { orgPolicy: notYet("OrgPolicyConfigService") } };
}
