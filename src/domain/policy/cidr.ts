/** An address as 4 (IPv4) or 16 (IPv6) bytes. */
export type IpBytes = Uint8Array;

export interface Cidr {
  network: IpBytes;
  prefix: number;
}

const IPV4_PART = /^(0|[1-9]\d{0,2})$/;

/** Dotted-quad IPv4 in strict decimal (no leading zeros, which some parsers read as octal). */
export function parseIpv4(s: string): IpBytes | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!IPV4_PART.test(parts[i]!)) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

const HEXTET = /^[0-9a-fA-F]{1,4}$/;

/** IPv6 text form with "::" and an optional dotted IPv4 tail; no zone index ("%eth0"). */
export function parseIpv6(s: string): IpBytes | undefined {
  if (!s.includes(":") || s.length > 45) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (text: string): number[] | undefined => {
    if (text === "") return [];
    const out: number[] = [];
    const parts = text.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (HEXTET.test(part)) out.push(parseInt(part, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

export function parseIp(s: string): IpBytes | undefined {
  return parseIpv4(s) ?? parseIpv6(s);
}

/** "10.0.0.0/8", "2001:db8::/32"; the prefix must fit the family. Host bits are allowed (masked). */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const network = parseIp(s.slice(0, slash));
  const prefixText = s.slice(slash + 1);
  if (!network || !/^(0|[1-9]\d{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > network.length * 8) return undefined;
  return { network, prefix };
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as its IPv4 bytes, so it matches IPv4 ranges. */
function unmapped(ip: IpBytes): IpBytes {
  if (ip.length !== 16) return ip;
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return ip;
  return ip[10] === 0xff && ip[11] === 0xff ? ip.subarray(12) : ip;
}

/** Whether the address lies in the range; addresses of the other family never do. */
export function ipInCidr(ip: IpBytes, cidr: Cidr): boolean {
  const addr = cidr.network.length === 4 ? unmapped(ip) : ip;
  if (addr.length !== cidr.network.length) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i]! & mask) !== (cidr.network[i]! & mask)) return false;
  }
  return true;
}
