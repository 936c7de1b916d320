import { describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { MfaService } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import { PasskeyService } from "../../gen/warden/passkey/v1/passkey_service_pb.js";
import { expectRateLimited } from "../helpers/expect-error.js";
import { useServedApp } from "../helpers/served-app.js";
import { bearer, STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const QUOTA = 3;

/**
 * Attack: an IPv6 client holds a whole /64 (2^64 addresses) and gives each request a new one, so
 * per-address quotas (sign-ups, SMS codes sent, passkey sign-in starts) never fill. Held: these
 * quotas key IPv6 clients by their /64 and IPv4 clients by their address.
 */
describe("IPv6 address rotation within one /64", () => {
  const served = useServedApp({
    signups_per_address_per_hour: QUOTA,
    otp_sends_per_address_per_hour: QUOTA,
    passkey_starts_per_address_per_hour: QUOTA,
  });
  /** The i-th address of a /64 prefix, e.g. inPrefix("2001:db8:1:2", 7) = 2001:db8:1:2::7. */
  const inPrefix = (prefix: string, i: number) => `${prefix}::${(i + 1).toString(16)}`;

  /** Runs `call` from QUOTA addresses of one /64, then expects a fresh address of it refused and another /64 served. */
  async function quotaHoldsPerPrefix(prefix: string, otherPrefix: string, call: (address: string, i: number) => Promise<unknown>) {
    for (let i = 0; i < QUOTA; i++) await call(inPrefix(prefix, i * 4097), i);
    await expectRateLimited(call(`${prefix}:ffff:ffff:ffff:fffe`, QUOTA));
    await expect(call(inPrefix(otherPrefix, 0), QUOTA + 1)).resolves.toBeDefined();
  }

  it("sign-ups", async () => {
    const register = (address: string) =>
      served()
        .from(AuthService, address)
        .register({ email: uniqueEmail("v6-signup"), password: STRONG_PASSWORD });
    await quotaHoldsPerPrefix("2001:db8:10:1", "2001:db8:10:2", register);
  });

  it("SMS codes sent", async () => {
    const home = "192.0.2.200";
    const email = uniqueEmail("v6-sms");
    await served().from(AuthService, home).register({ email, password: STRONG_PASSWORD });
    const { accessToken } = await served().from(AuthService, home).login({ email, password: STRONG_PASSWORD });
    // A new phone each time: the per-phone quota is not what is tested here.
    const send = (address: string, i: number) =>
      served()
        .from(MfaService, address)
        .enrollPhone({ phone: `+1202555${String(1000 + i)}` }, bearer(accessToken));
    await quotaHoldsPerPrefix("2001:db8:20:1", "2001:db8:20:2", send);
  });

  it("passkey sign-in starts", async () => {
    const start = (address: string) => served().from(PasskeyService, address).startPasskeyAuthentication({ email: "" });
    await quotaHoldsPerPrefix("2001:db8:30:1", "2001:db8:30:2", start);
  });

  it("IPv4 addresses stay apart: a neighbour in the same /24 has its own quota", async () => {
    const start = (address: string) => served().from(PasskeyService, address).startPasskeyAuthentication({ email: "" });
    for (let i = 0; i < QUOTA; i++) await start("198.51.100.31");
    await expectRateLimited(start("198.51.100.31"));
    await expect(start("198.51.100.32")).resolves.toBeDefined();
  });
});
