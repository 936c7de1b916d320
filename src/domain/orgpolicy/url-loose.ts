/**
 * The "loose" view of a URL, used only against BLOCK rules so that they fail closed: origin
 * servers disagree on which paths and hosts name the same resource, and a block rule must hold
 * for the most lenient of them. Allow rules never see this view (an allow rule must not
 * over-match), so it may merge paths that a strict server keeps apart.
 *
 * The loose path: every ASCII percent-escape decoded (up to three rounds, so `%252f` counts as
 * `/`), `\` read as `/`, `;params` dropped from every segment (Tomcat, Spring), runs of `/`
 * merged, `.` and `..` resolved again, ASCII lowercased (IIS).
 * The loose host: an IPv6 literal that embeds an IPv4 address (IPv4-mapped `::ffff:0:0/96`, and
 * the NAT64 well-known prefix `64:ff9b::/96`, through which an IPv6-only client reaches it) is
 * also that IPv4 address.
 *
 * Not covered (a block rule does not see through these): non-ASCII escapes stay escaped, so no
 * Unicode case folding or normalization and no overlong UTF-8 (`%c0%af`); IIS `%u0061` escapes;
 * more than three layers of percent-encoding; Windows quirks (trailing dots or spaces in a
 * segment, 8.3 short names such as `ADMINI~1`, `::$DATA` streams); NUL truncation; other IPv6
 * embeddings (IPv4-compatible `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, 6to4, Teredo, local-use
 * NAT64 prefixes); and a different host altogether that resolves to the blocked address (DNS).
 */

const DECODE_ROUNDS = 3;
const ESCAPE = /%([0-9A-Fa-f]{2})/g;

/** Whether a path may differ from its loose form in more than letter case (most paths do not). */
const LOOSE_SENSITIVE = /[%;\\]|\/\//;

/** The loose form of a path that starts with "/" (a strict normalized URL path or rule path). */
export function loosePath(path: string): string {
  if (!LOOSE_SENSITIVE.test(path)) return path.toLowerCase(); // WHATWG already resolved its dot segments
  const separated = decodeAsciiEscapes(path).replace(/\\/g, "/");
  const withoutParams = separated.replace(/;[^/]*/g, "");
  return resolveDotSegments(withoutParams.replace(/\/{2,}/g, "/")).toLowerCase();
}

/** Decodes the escapes of ASCII bytes until none is left (bounded); escapes of other bytes stay, uppercased. */
function decodeAsciiEscapes(path: string): string {
  let current = path;
  for (let round = 0; round < DECODE_ROUNDS; round++) {
    const next = current.replace(ESCAPE, (_m, hex: string) => {
      const byte = parseInt(hex, 16);
      return byte < 0x80 ? String.fromCharCode(byte) : `%${hex.toUpperCase()}`;
    });
    if (next === current) break;
    current = next;
  }
  return current;
}

/** RFC 3986 remove_dot_segments over a path with no empty segments: "/a/./b/../c" -> "/a/c", "/a/.." -> "/". */
function resolveDotSegments(path: string): string {
  const segments = path.split("/").slice(1);
  const out: string[] = [];
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === "..") out.pop();
    else if (segment !== ".") out.push(segment);
    // A path ending in a dot segment names a directory: "/a/b/.." is "/a/", as WHATWG has it.
    if (last && (segment === "." || segment === "..")) out.push("");
  });
  return `/${out.join("/")}`;
}

/**
 * The IPv4 address an IPv6 literal stands for ("[::ffff:a00:1]" -> "10.0.0.1"), or undefined.
 * Takes a host as WHATWG serializes it: lowercase hex, brackets, no embedded dotted quad.
 */
export function embeddedIpv4(host: string): string | undefined {
  if (!host.startsWith("[")) return undefined;
  const h = ipv6Hextets(host.slice(1, -1));
  if (!h) return undefined;
  const ipv4Mapped = h[0] === 0 && h[1] === 0 && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0xffff;
  const nat64 = h[0] === 0x64 && h[1] === 0xff9b && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0;
  if (!ipv4Mapped && !nat64) return undefined;
  return `${h[6]! >> 8}.${h[6]! & 0xff}.${h[7]! >> 8}.${h[7]! & 0xff}`;
}

/** "::ffff:a00:1" -> [0, 0, 0, 0, 0, 0xffff, 0xa00, 1]; undefined when it is not eight hextets. */
function ipv6Hextets(address: string): number[] | undefined {
  const [head, tail, extra] = address.split("::");
  if (extra !== undefined) return undefined;
  const parse = (part: string | undefined) => (part ? part.split(":").map((x) => parseInt(x, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const hextets = [...left, ...Array<number>(tail === undefined ? 0 : missing).fill(0), ...right];
  return hextets.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff) ? hextets : undefined;
}
