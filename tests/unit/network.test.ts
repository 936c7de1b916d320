import { describe, expect, it } from "vitest";
import { networkKeys, normalizeIp, TrustedProxies } from "../../src/domain/ratelimit/network.js";

const V6_ADDRESS = "2001:0db8:0000:0000:0000:0000:0000:0001";
const V6_SUBNET = "2001:0db8:0000:0000::/64";

describe("networkKeys", () => {
  it("keys IPv4 by /32 and /24", () => {
    expect(networkKeys("203.0.113.7")).toEqual({ address: "203.0.113.7", subnet: "203.0.113.0/24" });
    expect(networkKeys(" 203.0.113.250 ")).toEqual({ address: "203.0.113.250", subnet: "203.0.113.0/24" });
    expect(networkKeys("203.0.114.7").subnet).not.toBe(networkKeys("203.0.113.7").subnet);
  });

  it("treats IPv4-mapped IPv6 in any spelling as the IPv4 address", () => {
    const v4 = networkKeys("198.51.100.20");
    for (const mapped of [
      "::ffff:198.51.100.20",
      "::FFFF:198.51.100.20",
      "0:0:0:0:0:ffff:198.51.100.20",
      "::ffff:c633:6414",
      "0000:0000:0000:0000:0000:ffff:c633:6414",
    ])
      expect(networkKeys(mapped), mapped).toEqual(v4);
  });

  it("gives every spelling of one IPv6 address the same /128 and /64", () => {
    for (const spelling of [
      "2001:db8::1",
      "2001:DB8::1",
      "2001:db8:0:0::1",
      "2001:0db8:0000:0000:0000:0000:0000:0001",
      "2001:db8::0:1",
      "2001:db8:0:0:0:0:0:1",
    ])
      expect(networkKeys(spelling), spelling).toEqual({ address: V6_ADDRESS, subnet: V6_SUBNET });
  });

  it("puts addresses of one /64 together and a neighbouring /64 apart", () => {
    const a = networkKeys("2001:db8:0:0:aaaa::1");
    const b = networkKeys("2001:db8::ffff:ffff:ffff:ffff");
    const c = networkKeys("2001:db8:0:1::1");
    expect(a.subnet).toBe(V6_SUBNET);
    expect(b.subnet).toBe(V6_SUBNET);
    expect(a.address).not.toBe(b.address);
    expect(c.subnet).toBe("2001:0db8:0000:0001::/64");
  });

  it("expands the edge forms: ::, ::1, a zone index and an embedded dotted quad", () => {
    expect(networkKeys("::")).toEqual({ address: "0000:0000:0000:0000:0000:0000:0000:0000", subnet: "0000:0000:0000:0000::/64" });
    expect(networkKeys("::1").address).toBe("0000:0000:0000:0000:0000:0000:0000:0001");
    expect(networkKeys("fe80::1%eth0")).toEqual(networkKeys("fe80::1"));
    expect(networkKeys("64:ff9b::192.0.2.33")).toEqual(networkKeys("64:ff9b::c000:221"));
    expect(networkKeys("2001:db8::5:6:7:1.2.3.4")).toEqual({ address: "2001:0db8:0000:0005:0006:0007:0102:0304", subnet: "2001:0db8:0000:0005::/64" });
  });

  it("puts anything that is not an address in one 'unknown' bucket", () => {
    for (const junk of ["", "unknown", "1.2.3", "1.2.3.4:80", "2001:db8::g", "localhost"])
      expect(networkKeys(junk), junk).toEqual({ address: "unknown", subnet: "unknown" });
  });

  it("normalizes mapped addresses and case", () => {
    expect(normalizeIp("::ffff:10.0.0.1")).toBe("10.0.0.1");
    expect(normalizeIp("2001:DB8::A")).toBe("2001:db8::a");
  });
});

describe("TrustedProxies.clientIp", () => {
  const proxies = new TrustedProxies(["10.0.0.0/8", "192.0.2.10", "fd00::/8"]);

  it("is the socket peer when no proxy is trusted, whatever X-Forwarded-For says", () => {
    expect(new TrustedProxies([]).clientIp("198.51.100.9", "203.0.113.1")).toBe("198.51.100.9");
  });

  it("ignores a forged X-Forwarded-For from an untrusted peer", () => {
    expect(proxies.clientIp("198.51.100.9", "203.0.113.1")).toBe("198.51.100.9");
    expect(proxies.clientIp("198.51.100.9", "10.0.0.1, 192.0.2.10")).toBe("198.51.100.9");
    expect(proxies.clientIp("::ffff:198.51.100.9", "203.0.113.1")).toBe("198.51.100.9");
  });

  it("takes the right-most hop that is not itself a trusted proxy", () => {
    expect(proxies.clientIp("10.1.2.3", "203.0.113.1")).toBe("203.0.113.1");
    // The left-most entries are whatever the client wrote; only the hops our proxies appended count.
    expect(proxies.clientIp("10.1.2.3", "1.1.1.1, 203.0.113.1, 10.9.9.9, 192.0.2.10")).toBe("203.0.113.1");
    expect(proxies.clientIp("::ffff:10.1.2.3", ["1.1.1.1, 203.0.113.1", "10.9.9.9"])).toBe("203.0.113.1");
    expect(proxies.clientIp("fd00::5", "2001:db8::7, fd00::6")).toBe("2001:db8::7");
  });

  it("falls back to the peer on a garbage hop", () => {
    expect(proxies.clientIp("10.1.2.3", "203.0.113.1, not-an-ip, 10.9.9.9")).toBe("10.1.2.3");
    expect(proxies.clientIp("10.1.2.3", "203.0.113.1:4711")).toBe("10.1.2.3");
    expect(proxies.clientIp("10.1.2.3", "")).toBe("10.1.2.3");
    expect(proxies.clientIp("10.1.2.3", undefined)).toBe("10.1.2.3");
  });

  it("uses the left-most hop when every hop is a trusted proxy", () => {
    expect(proxies.clientIp("10.1.2.3", "10.4.4.4, 10.5.5.5")).toBe("10.4.4.4");
  });

  it("refuses an entry that is not an address or CIDR", () => {
    expect(() => new TrustedProxies(["proxy.internal"])).toThrow(/not an address or CIDR/);
  });
});
