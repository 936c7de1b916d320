import { CachedOrgPolicyReader } from "../domain/orgpolicy/cached-org-policy-reader.js";
import { OrgPolicyConfigs } from "../domain/orgpolicy/org-policy-configs.js";
import type { OrgPolicyReader } from "../domain/orgpolicy/org-policy-settings.js";
import { UrlAccess } from "../domain/orgpolicy/url-access.js";
import { orgPolicyHandlers } from "../handlers/org-policy.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";

export interface OrgPolicyArea {
  /** Cached per instance, cleared on every instance when a config or its organization changes. */
  reader: OrgPolicyReader;
  configs: OrgPolicyConfigs;
  urlAccess: UrlAccess;
  handlers: Pick<ServiceHandlers, "orgPolicy">;
}

/** Organizations' zero-trust settings (MFA, devices, sessions, URL access) and URL checks. */
export function wireOrgPolicy(core: Core): OrgPolicyArea {
  const { store, clock, audit, bus, caches } = core;
  const configs = new OrgPolicyConfigs({ store, clock, audit, bus });
  const reader = new CachedOrgPolicyReader(configs, caches, bus);
  const urlAccess = new UrlAccess(reader, caches);
  return { reader, configs, urlAccess, handlers: { orgPolicy: orgPolicyHandlers(configs, urlAccess) } };
}
