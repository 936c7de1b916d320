import { BlockList, isIP } from "node:net";
import { invalidArgument } from "../errors.js";

/**
 * Where webhooks may go (SSRF care): https to public addresses only. With allowLoopback (the
 * setting notification_allow_loopback, for tests and development) also http or https to
 * loopback; never to private, link-local, shared, documentation or multicast ranges. URLs are
 * checked when a channel is made, and every resolved address again before each attempt.
 */
export interface TargetRules {
  allowLoopback: boolean;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** IPv4 ranges that are not the public internet (RFC 6890 and friends). */
const NOT_PUBLIC_V4 = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const)
  NOT_PUBLIC_V4.addSubnet(net, prefix, "ipv4");

/** Inside global unicast (2000::/3), the ranges that are not plain public hosts. */
const NOT_PUBLIC_V6 = new BlockList();
for (const [net, prefix] of [
  ["2001::", 23], // IETF protocol assignments: Teredo, benchmarking, ORCHID
  ["2001:db8::", 32], // documentation
  ["2002::", 16], // 6to4: may embed any IPv4 address
] as const)
  NOT_PUBLIC_V6.addSubnet(net, prefix, "ipv6");
const GLOBAL_UNICAST_V6 = new BlockList();
GLOBAL_UNICAST_V6.addSubnet("2000::", 3, "ipv6");

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

export function isLoopbackAddress(address: string): boolean {
  const mapped = MAPPED_V4.exec(address)?.[1];
  if (mapped) return LOOPBACK.check(mapped, "ipv4");
  const family = isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 4 ? "ipv4" : "ipv6");
}

export function isPublicAddress(address: string): boolean {
  const mapped = MAPPED_V4.exec(address)?.[1];
  if (mapped) return isPublicAddress(mapped);
  switch (isIP(address)) {
    case 4:
      return !NOT_PUBLIC_V4.check(address, "ipv4");
    case 6:
      return GLOBAL_UNICAST_V6.check(address, "ipv6") && !NOT_PUBLIC_V6.check(address, "ipv6");
    default:
      return false;
  }
}

/** Whether a webhook may connect to this resolved address. */
export function addressAllowed(address: string, rules: TargetRules): boolean {
  return isPublicAddress(address) || (rules.allowLoopback && isLoopbackAddress(address));
}

const isLocalhostName = (host: string) => host === "localhost" || host.endsWith(".localhost");
const bare = (hostname: string) => hostname.replace(/^\[|\]$/g, "");

/** The parsed URL of a channel, or INVALID_ARGUMENT on webhook_url saying why not. */
export function checkWebhookUrl(raw: string, rules: TargetRules): URL {
  const refuse = (why: string) => invalidArgument("webhook_url", why);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse("is not a URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw refuse("must be an https URL");
  if (url.username || url.password) throw refuse("must not carry a user name or password");
  const host = bare(url.hostname).toLowerCase();
  if (!host) throw refuse("has no host");
  const loopback = isLocalhostName(host) || isLoopbackAddress(host);
  if (loopback && !rules.allowLoopback) throw refuse("must not name a loopback host");
  if (url.protocol === "http:" && !(loopback && rules.allowLoopback)) throw refuse("must be an https URL (http only to loopback where the server allows it)");
  if (isIP(host) && !addressAllowed(host, rules)) throw refuse("must not name a private, link-local or reserved address");
  return url;
}

/** The host to resolve for a parsed webhook URL (brackets of an IPv6 literal removed). */
export function hostOf(url: URL): string {
  return bare(url.hostname);
}
