import type { Clock } from "../../clock.js";
import type { Connectors } from "../oidc/connectors.js";

export interface ServerInfoDeps {
  clusterName: string;
  version: string;
  webauthnRpId: string;
  /** sms_webhook_url set, or dev mode (codes in the log): SMS codes can be sent. */
  smsEnabled: boolean;
  /** google_client_ids is not empty. */
  googleEnabled: boolean;
  /** spiffe_trust_bundle_file and spiffe_trust_domain are set. */
  spiffeEnabled: boolean;
  connectors: Pick<Connectors, "list">;
  clock: Clock;
}

export interface ServerInfo {
  clusterName: string;
  serverVersion: string;
  authMethods: string[];
  webauthnRpId: string;
  serverTime: Date;
}

/** How long Ping trusts its answer to "is any OIDC connector configured?": Ping is public, so it must not read the database per call. */
const CONNECTORS_CHECK_SECONDS = 30;

/**
 * AuthService/Ping: what a client learns before signing in. The methods come from the settings,
 * except "oidc", which depends on the connectors administrators have added, checked at most
 * every CONNECTORS_CHECK_SECONDS (concurrent pings share one check).
 */
export class ServerInfoSource {
  private oidc: { enabled: boolean; checkedAt: number } | undefined;
  private checking: Promise<boolean> | undefined;

  constructor(private readonly d: ServerInfoDeps) {}

  async ping(): Promise<ServerInfo> {
    const oidc = await this.oidcEnabled();
    const methods = ["password", "totp", ...(this.d.smsEnabled ? ["sms"] : []), "passkey", ...(this.d.googleEnabled ? ["google"] : [])];
    if (oidc) methods.push("oidc");
    methods.push("web_login", "join_token", "iam", ...(this.d.spiffeEnabled ? ["spiffe"] : []));
    return {
      clusterName: this.d.clusterName,
      serverVersion: this.d.version,
      authMethods: methods,
      webauthnRpId: this.d.webauthnRpId,
      serverTime: this.d.clock.now(),
    };
  }

  private async oidcEnabled(): Promise<boolean> {
    const now = this.d.clock.now().getTime();
    if (this.oidc && now - this.oidc.checkedAt < CONNECTORS_CHECK_SECONDS * 1000) return this.oidc.enabled;
    this.checking ??= this.d.connectors
      .list({ pageSize: 1, pageToken: "" })
      .then((r) => r.items.length > 0)
      .then(
        (enabled) => {
          this.oidc = { enabled, checkedAt: now };
          return enabled;
        },
        // The database is away: answer with what was known (or none), and try again next time.
        () => this.oidc?.enabled ?? false,
      )
      .finally(() => (this.checking = undefined));
    return this.checking;
  }
}
