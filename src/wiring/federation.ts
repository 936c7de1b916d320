import { Connectors } from "../domain/oidc/connectors.js";
import { FederatedSignIn } from "../domain/oidc/federated-sign-in.js";
import { IdTokenVerifier } from "../domain/oidc/id-token-verifier.js";
import { connectorHandlers } from "../handlers/connector.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { SessionsArea } from "./sessions.js";

export interface FederationArea {
  federatedSignIn: FederatedSignIn;
  connectors: Connectors;
  handlers: Pick<ServiceHandlers, "connector">;
}

/** Sign-in with Google and other OIDC issuers (connectors). */
export function wireFederation(core: Core, s: SessionsArea): FederationArea {
  const { config, store, clock, audit } = core;
  const google = { clientIds: config.google_client_ids, issuer: config.google_issuer, jwksUrl: config.google_jwks_url };
  const connectors = new Connectors({ store, clock, audit, google });
  const federatedSignIn = new FederatedSignIn({
    store,
    clock,
    bus: core.bus,
    connectors,
    verifier: new IdTokenVerifier(clock, core.caches),
    audit,
    signIn: s.signIn,
  });
  return { federatedSignIn, connectors, handlers: { connector: connectorHandlers(connectors) } };
}
