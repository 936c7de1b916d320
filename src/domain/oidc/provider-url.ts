import { isIP } from "node:net";

/**
 * Why a provider URL (issuer or JWKS) is not acceptable, or undefined when it is: https, or
 * plain http only for a loopback host (local test providers). No credentials, no fragment.
 */
export function providerUrlProblem(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "is not a URL";
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHostname(url.hostname)))
    return "must use https (plain http only for a loopback host)";
  if (url.username || url.password) return "must not carry credentials";
  if (url.hash || raw.includes("#")) return "must not have a fragment";
  return undefined;
}

/** URL.hostname form: IPv6 addresses come in brackets. */
export function isLoopbackHostname(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.split(".")[0] === "127";
  return isIP(host) === 6 && (host === "::1" || host === "0:0:0:0:0:0:0:1");
}
