import { ApiKeySessions } from "../domain/apikey/api-key-sessions.js";
import { ApiKeys } from "../domain/apikey/api-keys.js";
import type { OrgAccess } from "../domain/org/org-access.js";
import { Organizations } from "../domain/org/organizations.js";
import { ServiceAccounts } from "../domain/serviceaccount/service-accounts.js";
import { apiKeyHandlers, serviceAccountHandlers } from "../handlers/machine-credentials.js";
import { membershipHandlers, organizationHandlers } from "../handlers/organization.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";

export interface TenancyArea {
  orgAccess: OrgAccess;
  apiKeys: ApiKeys;
  serviceAccounts: ServiceAccounts;
  handlers: Pick<ServiceHandlers, "organization" | "membership" | "apiKey" | "serviceAccount">;
}

/** Organizations, their members, and their machine credentials (API keys, service accounts). */
export function wireTenancy(core: Core): TenancyArea {
  const { config, store, clock, audit, bus } = core;
  const { orgAccess } = core;
  const organizations = new Organizations({
    store,
    clock,
    audit,
    bus,
    maxOrganizationsPerUser: config.max_organizations_per_user,
    requireVerifiedEmail: { toCreate: config.require_verified_email_to_create_organization, toJoin: config.require_verified_email_to_join_organization },
  });
  const apiKeys = new ApiKeys({ store, clock, orgAccess, audit, bus, caches: core.caches });
  const serviceAccounts = new ServiceAccounts({ store, clock, tokens: core.tokens, audit, bus, caches: core.caches });
  return {
    orgAccess,
    apiKeys,
    serviceAccounts,
    handlers: {
      organization: organizationHandlers(organizations),
      membership: membershipHandlers(organizations),
      apiKey: apiKeyHandlers(apiKeys, new ApiKeySessions(core.tokens)),
      serviceAccount: serviceAccountHandlers(serviceAccounts),
    },
  };
}
