import type { DevicesArea } from "./devices.js";
import { AuthService } from "../domain/auth/auth-service.js";
import { createAuthenticator, type Authenticator } from "../domain/auth/authenticator.js";
import { ServerInfoSource } from "../domain/auth/server-info.js";
import { VERSION } from "../version.js";
import { UserAdmin } from "../domain/user/user-admin.js";
import { UserDirectory } from "../domain/user/user-directory.js";
import { authHandlers } from "../handlers/auth.js";
import type { SshCaArea } from "./ssh-ca.js";
import { sessionHandlers } from "../handlers/session.js";
import { userHandlers } from "../handlers/user.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { EmailArea } from "./email.js";
import type { FederationArea } from "./federation.js";
import type { MfaArea } from "./mfa.js";
import type { RbacArea } from "./rbac.js";
import type { SessionsArea } from "./sessions.js";
import type { TenancyArea } from "./tenancy.js";

export interface AccountsArea {
  authenticator: Authenticator;
  /** Password checks, shared with the mail-server backchannel. */
  passwords: Pick<AuthService, "checkPassword">;
  /** Login's password check and Logout, for the SPA's cookie sign-in (WebLogin). */
  signIn: Pick<AuthService, "checkPassword" | "logout">;
  handlers: Pick<ServiceHandlers, "auth" | "user" | "session">;
}

/** Accounts: password sign-up and sign-in, users, sessions, and who a bearer credential is. */
export async function wireAccounts(
  core: Core,
  a: {
    rbac: RbacArea;
    email: EmailArea;
    sessions: SessionsArea;
    mfa: MfaArea;
    federation: FederationArea;
    tenancy: TenancyArea;
    devices: DevicesArea;
    sshCa: SshCaArea;
  },
): Promise<AccountsArea> {
  const { config, store, clock, audit, limiter, hasher, passwordPolicy: policy, log } = core;
  const { sessions, signIn, queries } = a.sessions;
  const auth = new AuthService({
    store,
    clock,
    sessions,
    hasher,
    policy,
    limiter,
    tokens: core.tokens,
    audit,
    signIn,
    verification: a.email.verification,
    box: core.box,
    refreshGraceSeconds: config.refresh_reuse_grace,
    proofs: a.devices.proofs,
    gate: a.sessions.gate,
    locks: core.locks,
  });
  const users = new UserAdmin({ store, clock, sessions, hasher, policy, audit, roles: a.rbac.catalog });
  if (config.admin_email && config.admin_password) {
    const r = await users.ensureBootstrapAdmin(config.admin_email, config.admin_password);
    if (r.created) log.info({ user_id: r.user.id }, "created the first administrator from configuration");
  }
  const serverInfo = new ServerInfoSource({
    clusterName: config.cluster_name,
    version: VERSION,
    webauthnRpId: config.webauthn_rp_id,
    smsEnabled: !!config.sms_webhook_url || config.dev,
    googleEnabled: config.google_client_ids.length > 0,
    spiffeEnabled: !!config.spiffe_trust_bundle_file && !!config.spiffe_trust_domain,
    connectors: a.federation.connectors,
    clock,
  });
  const authenticator = createAuthenticator({
    tokens: core.tokens,
    sessions,
    apiKeys: a.tenancy.apiKeys,
    serviceAccounts: a.tenancy.serviceAccounts,
    roles: a.rbac.catalog,
    limiter,
    locks: core.locks,
    grants: core.grants,
  });
  return {
    authenticator,
    passwords: auth,
    signIn: auth,
    handlers: {
      auth: authHandlers(auth, a.federation.federatedSignIn, a.mfa.verification, a.email.verification, a.sshCa.userCertificates, serverInfo),
      user: userHandlers(users, new UserDirectory({ store })),
      session: sessionHandlers(queries, sessions, authenticator),
    },
  };
}
