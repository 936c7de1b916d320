import { AgentIdentities } from "../domain/agent-identity/agent-identities.js";
import { IdentityCredentialIssuer } from "../domain/agent-identity/identity-credentials.js";
import { IdentityTokenExchange } from "../domain/agent-identity/identity-token-exchange.js";
import { agentIdentityHandlers } from "../handlers/agent-identities.js";
import type { Core } from "./core.js";
import type { RbacArea } from "./rbac.js";
import type { SshCaArea } from "./ssh-ca.js";

/** Agent identities (bots): admins make them; they trade bootstrap and renewal tokens for credentials. */
export function wireAgentIdentities(core: Core, deps: { sshCa: SshCaArea; rbac: RbacArea }): ReturnType<typeof agentIdentityHandlers> {
  const { config, store, clock, audit } = core;
  const identities = new AgentIdentities({
    store,
    roles: deps.rbac.catalog,
    clock,
    audit,
    maxBootstrapTtlSeconds: config.join_token_max_ttl,
    // Getters: UpdateClusterConfig changes the cap at run time, on every instance.
    get maxCertTtlSeconds() {
      return core.cluster.settings().sshCertMaxTtl;
    },
  });
  const credentials = new IdentityCredentialIssuer({
    sshAuthorities: deps.sshCa.authorities,
    tlsAuthority: deps.sshCa.tlsAuthority,
    clusterName: config.cluster_name,
    get maxTtlSeconds() {
      return core.cluster.settings().sshCertMaxTtl;
    },
    locks: core.locks,
  });
  const exchange = new IdentityTokenExchange({ store, credentials, clock, audit });
  return agentIdentityHandlers(identities, exchange);
}
