import type { X509Certificate } from "node:crypto";
import { createContextKey } from "@connectrpc/connect";
import type { OrgGrant } from "./domain/org/org-access.js";
import type { BackchannelCaller } from "./domain/backchannel/mail-auth.js";
import type { Principal } from "./domain/principal.js";
import type { AgentPrincipal } from "./domain/agent/agent-credentials.js";

/** The socket peer address, set by the adapter from the Node request. */
export const kClientIp = createContextKey<string>("", { description: "client ip" });
/** Request id for logs, the audit log and the x-request-id response header. */
export const kRequestId = createContextKey<string>("", { description: "request id" });
/** The authenticated caller, when there is one. */
export const kPrincipal = createContextKey<Principal | undefined>(undefined, { description: "principal" });
/** The organization an org-scoped call acts in and the caller's role there (set by the policy interceptor). */
export const kOrgGrant = createContextKey<OrgGrant | undefined>(undefined, { description: "organization grant" });
/** Set by a handler that answered OK but judged the presented credential bad (ValidateApiKey). */
export const kCredentialFailed = createContextKey<boolean>(false, { description: "credential failed" });
/** The backchannel caller (Basic or a service account), set only on the backchannel listener. */
export const kBackchannelCaller = createContextKey<BackchannelCaller | undefined>(undefined, { description: "backchannel caller" });
/** The registered agent calling an ACCESS_AGENT method (set by the authn interceptor from x-agent-id and its token). */
export const kAgent = createContextKey<AgentPrincipal | undefined>(undefined, { description: "agent" });
/** The TLS client certificate the connection presented (TLS listeners only), verified by nothing yet. */
export const kPeerCertificate = createContextKey<X509Certificate | undefined>(undefined, { description: "peer certificate" });
