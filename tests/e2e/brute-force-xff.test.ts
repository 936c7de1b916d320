import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { authClientOf, loggedPeer, loginFrom, useServers } from "../helpers/mfa-brute-force-e2e.js";
import { expectFailure, expectRateLimited } from "../helpers/expect-error.js";
import { uniqueEmail } from "../helpers/unique.js";
import { SLOW_TEST } from "../helpers/server-process.js";

/** Failed sign-ins per address per window on both servers; the /24 and /64 allow a few more. */
const ADDRESS_MAX = 3;
const SUBNET_MAX = 5;
const budgets = { WARDEN_NETWORK_MAX_FAILURES: String(ADDRESS_MAX), WARDEN_SUBNET_MAX_FAILURES: String(SUBNET_MAX), WARDEN_LOGIN_MAX_FAILURES: "100" };

const refused = (call: Promise<unknown>) => expectFailure(call, Code.Unauthenticated, "INVALID_CREDENTIALS");

describe("the client address of brute-force budgets (real servers)", SLOW_TEST, () => {
  // [0]: trusts no proxy; [1]: trusts 127.0.0.1, where this test connects from.
  const servers = useServers({ env: budgets }, { env: { ...budgets, WARDEN_TRUSTED_PROXIES: "127.0.0.1" } });

  it("ignores a forged X-Forwarded-For from an untrusted peer: the budget of 127.0.0.1 still trips", async () => {
    const server = servers()[0]!;
    const auth = authClientOf(server);
    for (let i = 1; i <= ADDRESS_MAX; i++) await refused(loginFrom(auth, `203.0.113.${i}, 198.51.${i}.1`, uniqueEmail(`forged${i}`)));
    const requestId = "bf-forged-after-limit";
    await expectRateLimited(loginFrom(auth, "192.0.2.200", uniqueEmail("forged-next"), undefined, requestId));
    await expectRateLimited(loginFrom(auth, undefined, uniqueEmail("plain")));
    expect(await loggedPeer(server, requestId)).toBe("127.0.0.1");
  });

  it("behind a trusted proxy counts the forwarded address: two addresses have separate budgets", async () => {
    const server = servers()[1]!;
    const auth = authClientOf(server);
    for (let i = 1; i <= ADDRESS_MAX; i++) await refused(loginFrom(auth, "198.51.100.7", uniqueEmail(`proxied${i}`)));
    const requestId = "bf-proxied-after-limit";
    await expectRateLimited(loginFrom(auth, "198.51.100.7", uniqueEmail("proxied-next"), undefined, requestId));
    expect(await loggedPeer(server, requestId)).toBe("198.51.100.7");
    // Another client behind the same proxy, and the proxy itself, still have their own budgets.
    await refused(loginFrom(auth, "203.0.113.50", uniqueEmail("other-client")));
    await refused(loginFrom(auth, "10.9.8.7, 203.0.113.51", uniqueEmail("chained-client")));
    await refused(loginFrom(auth, undefined, uniqueEmail("the-proxy")));
  });

  it("behind a trusted proxy, limits a /24 and an IPv6 /64 as a whole", async () => {
    const auth = authClientOf(servers()[1]!);
    const networks = [
      { inside: (i: number) => `192.0.2.${i}`, beside: "192.0.3.1" },
      { inside: (i: number) => `2001:db8:1:1::${i}`, beside: "2001:db8:1:2::1" },
    ];
    for (const net of networks) {
      for (let i = 1; i <= SUBNET_MAX; i++) await refused(loginFrom(auth, net.inside(i), uniqueEmail("subnet")));
      await expectRateLimited(loginFrom(auth, net.inside(SUBNET_MAX + 1), uniqueEmail("subnet-next")));
      await refused(loginFrom(auth, net.beside, uniqueEmail("next-door")));
    }
  });
});
