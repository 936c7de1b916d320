import { readFileSync } from "node:fs";
import { ConfigError, envNameOf, type Config } from "../config.js";
import { SpiffeAuthentication, type SpiffeSettings } from "../domain/join/spiffe-authentication.js";
import { parseTrustDomain } from "../domain/join/spiffe-id.js";
import { SpiffeRoleMap } from "../domain/join/spiffe-role-map.js";
import { parseTrustBundle } from "../domain/join/spiffe-trust-bundle.js";
import type { Core } from "./core.js";
import type { RbacArea } from "./rbac.js";
import type { SshCaArea } from "./ssh-ca.js";

/** AuthenticateSPIFFE: on when a trust bundle and a trust domain are configured, off (SPIFFE_NOT_CONFIGURED) when neither is. */
export function wireSpiffe(core: Core, deps: { sshCa: SshCaArea; rbac: RbacArea }): SpiffeAuthentication {
  const { config, store, clock, audit, log } = core;
  const settings = spiffeSettings(config);
  if (settings) {
    log.info({ trust_domain: settings.trust.trustDomain, anchors: settings.trust.bundlePem.length, rules: settings.roleMap.size }, "SPIFFE authentication on");
    if (settings.roleMap.size === 0) log.warn("spiffe_role_map is empty: every SPIFFE ID is refused (SPIFFE_ID_NOT_MAPPED)");
  } else if (config.spiffe_role_map.trim() !== "") {
    log.warn("spiffe_role_map is set but SPIFFE is off (no spiffe_trust_bundle_file and spiffe_trust_domain)");
  }
  return new SpiffeAuthentication({ store, authorities: deps.sshCa.authorities, roles: deps.rbac.catalog, clock, audit, settings, locks: core.locks });
}

/**
 * The SPIFFE settings, read once at start. Fails closed: a bundle file that cannot be read, holds
 * no CA certificate, or a malformed trust domain or role map stops the server with the setting
 * at fault, rather than starting with SPIFFE quietly off or refusing every workload.
 */
export function spiffeSettings(config: Config): SpiffeSettings | undefined {
  const file = config.spiffe_trust_bundle_file;
  const domain = config.spiffe_trust_domain;
  if (!file && !domain) return undefined;
  if (!file || !domain) {
    throw new ConfigError(`${setting("spiffe_trust_bundle_file")} and ${setting("spiffe_trust_domain")} go together: set both to turn SPIFFE on, or neither`);
  }
  let trustDomain: string;
  try {
    trustDomain = parseTrustDomain(domain);
  } catch (err) {
    throw new ConfigError(`${setting("spiffe_trust_domain")}: ${(err as Error).message}`);
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`${setting("spiffe_trust_bundle_file")}: cannot read ${file}: ${(err as Error).message}`);
  }
  let bundlePem: string[];
  try {
    bundlePem = parseTrustBundle(text);
  } catch (err) {
    throw new ConfigError(`${setting("spiffe_trust_bundle_file")}: ${file}: ${(err as Error).message}`);
  }
  let roleMap: SpiffeRoleMap;
  try {
    roleMap = SpiffeRoleMap.parse(config.spiffe_role_map, trustDomain);
  } catch (err) {
    throw new ConfigError(`${setting("spiffe_role_map")}: ${(err as Error).message}`);
  }
  return { trust: { trustDomain, bundlePem }, roleMap, maxTtlSeconds: config.spiffe_cert_max_ttl, clusterName: config.cluster_name };
}

function setting(key: keyof Config): string {
  return `${key} (${envNameOf(key)})`;
}
