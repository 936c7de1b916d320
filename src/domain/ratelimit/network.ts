import { BlockList, isIP } from "node:net";

/** IPv4-mapped IPv6 (::ffff:1.2.3.4) is the IPv4 address; IPv6 hex is lower case. */
export function normalizeIp(ip: string): string {
  const v = ip.trim().toLowerCase();
  return v.startsWith("::ffff:") && isIP(v.slice(7)) === 4 ? v.slice(7) : v;
}

/** A dotted-quad tail (64:ff9b::192.0.2.1) as the two groups it stands for. */
function groupsOf(part: string): string[] {
  return part.split(":").flatMap((g) => {
    if (isIP(g) !== 4) return [g];
    const [a, b, c, d] = g.split(".").map(Number);
    return [((a! << 8) | b!).toString(16), ((c! << 8) | d!).toString(16)];
  });
}

function expandIpv6(ip: string): string[] {
  const [head, tail] = ip.split("::");
  const h = head ? groupsOf(head) : [];
  const t = tail !== undefined && tail !== "" ? groupsOf(tail) : [];
  const missing = tail === undefined ? 0 : 8 - h.length - t.length;
  return [...h, ...Array(missing).fill("0"), ...t].map((g) => g.padStart(4, "0"));
}

/** The address bucket and the network bucket: /32 and /24 for IPv4, /128 and /64 for IPv6. */
export function networkKeys(rawIp: string): { address: string; subnet: string } {
  const ip = normalizeIp(rawIp);
  if (isIP(ip) === 4) return { address: ip, subnet: `${ip.split(".").slice(0, 3).join(".")}.0/24` };
  if (isIP(ip) === 6) {
    const groups = expandIpv6(ip.split("%")[0]!);
    // Any spelling of an IPv4-mapped address (0:0:0:0:0:ffff:a01:203) is the IPv4 address.
    if (groups.slice(0, 5).every((g) => g === "0000") && groups[5] === "ffff")
      return networkKeys(
        groups
          .slice(6)
          .flatMap((g) => [parseInt(g.slice(0, 2), 16), parseInt(g.slice(2), 16)])
          .join("."),
      );
    return { address: groups.join(":"), subnet: `${groups.slice(0, 4).join(":")}::/64` };
  }
  return { address: "unknown", subnet: "unknown" };
}

/** Proxies whose X-Forwarded-For is believed; everything else is the socket peer. */
export class TrustedProxies {
  private readonly list = new BlockList();
  private readonly empty: boolean;

  constructor(entries: string[]) {
    this.empty = entries.length === 0;
    for (const entry of entries) {
      const [addr, bits] = entry.split("/");
      const family = isIP(addr!) === 6 ? "ipv6" : "ipv4";
      if (!isIP(addr!)) throw new Error(`trusted_proxies: "${entry}" is not an address or CIDR`);
      if (bits === undefined) this.list.addAddress(addr!, family);
      else this.list.addSubnet(addr!, Number(bits), family);
    }
  }

  private trusted(ip: string): boolean {
    const family = isIP(ip);
    return family !== 0 && this.list.check(ip, family === 6 ? "ipv6" : "ipv4");
  }

  /**
   * The client address: the peer, unless the peer is a trusted proxy; then the right-most
   * X-Forwarded-For entry that is not itself a trusted proxy. A forged header from an
   * untrusted peer changes nothing.
   */
  clientIp(peer: string, forwardedFor: string | string[] | undefined): string {
    const ip = normalizeIp(peer);
    if (this.empty || !this.trusted(ip) || !forwardedFor) return ip;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor).split(",").map((h) => normalizeIp(h));
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (!isIP(hop)) return ip;
      if (!this.trusted(hop)) return hop;
    }
    return hops[0] && isIP(hops[0]) ? hops[0] : ip;
  }
}
