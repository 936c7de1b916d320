import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { expectError } from "../helpers/expect-error.js";
import { createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

/**
 * Attack: registering a second account under an address that looks like, or routes to, someone
 * else's (fullwidth letters, a trailing dot, the Unicode or punycode spelling of a domain, an
 * invisible character), to phish colleagues or to shadow the victim's account. Held: addresses
 * are compared in one canonical form (NFKC, lower case, IDNA, no trailing dot), and invisible or
 * control characters are refused.
 */
describe("email look-alikes", () => {
  let t: TestApp;
  const register = (email: string) => t.client(AuthService).register({ email, password: STRONG_PASSWORD });
  const login = (email: string) => t.client(AuthService).login({ email, password: STRONG_PASSWORD });

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t?.close());

  it.each([
    ["fullwidth letters", "lookalike@example.test", "ｌｏｏｋａｌｉｋｅ@ｅｘａｍｐｌｅ.test"],
    ["a trailing dot on the domain", "trailing@example.test", "trailing@example.test."],
    ["upper case and a compatibility ligature", "office@example.test", "OFFICE@EXAMPLE.TEST".replace("FF", "\uFB00")],
    ["the punycode spelling of a Unicode domain", "shelf@bücher.example", "shelf@xn--bcher-kva.example"],
    ["the Unicode spelling of a punycode domain", "kiosk@xn--bcher-kva.example", "kiosk@BÜCHER.example"],
  ])("%s collides with the original (EMAIL_TAKEN) and signs in to the same account", async (_name, original, lookAlike) => {
    const { user } = await register(original);
    await expectError(register(lookAlike), Code.AlreadyExists, "EMAIL_TAKEN");
    const viaLookAlike = await login(lookAlike);
    expect(viaLookAlike.user?.id).toBe(user!.id);
    expect(viaLookAlike.user?.email).toBe(user!.email);
  });

  it("stores the canonical form: ASCII domain, lower case, no trailing dot", async () => {
    const { user } = await register("Reader@Bücher-Shop.example.");
    expect(user?.email).toBe("reader@xn--bcher-shop-9db.example");
  });

  it.each([
    ["a zero-width space", "zero\u200Bwidth@example.test"],
    ["a right-to-left override", "evil\u202Etset.elpmaxe@example.test"],
    ["a soft hyphen in the domain", "soft@exam\u00ADple.test"],
    ["a byte-order mark inside the address", "b\uFEFFom@example.test"],
    ["a bell control character", "bell\u0007@example.test"],
  ])("refuses an address with %s (INVALID_ARGUMENT), creating nothing", async (_name, email) => {
    const before = (await t.app.hooks.store.users.counts()).total;
    const err = await expectError(register(email), Code.InvalidArgument);
    expect(err.message).toMatch(/email/);
    expect((await t.app.hooks.store.users.counts()).total).toBe(before);
  });
});
