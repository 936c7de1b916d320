import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { base32Decode, base32Encode, matchingStep, newTotpSecret, otpauthUri, stepAt, totpCode } from "../../src/domain/mfa/totp.js";

/** The SHA-1 seed of RFC 6238 appendix B: the ASCII string "12345678901234567890". */
const RFC_SECRET = base32Encode(Buffer.from("12345678901234567890", "ascii"));
const at = (unixSeconds: number) => new Date(unixSeconds * 1000);

describe("RFC 6238 TOTP", () => {
  it("encodes the RFC seed as the well-known base32 string", () => {
    expect(RFC_SECRET).toBe("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  });

  // Appendix B lists 8-digit values; a 6-digit code is the same number modulo 10^6.
  it.each([
    [59, "94287082"],
    [1111111109, "07081804"],
    [1111111111, "14050471"],
    [1234567890, "89005924"],
    [2000000000, "69279037"],
    [20000000000, "65353130"],
  ])("T = %i gives the last six digits of %s", (t, eight) => {
    expect(totpCode(RFC_SECRET, stepAt(at(t)))).toBe(eight.slice(2));
  });

  it("keeps leading zeros (T = 1111111109 -> 081804, T = 1234567890 -> 005924)", () => {
    expect(totpCode(RFC_SECRET, stepAt(at(1111111109)))).toBe("081804");
    expect(totpCode(RFC_SECRET, stepAt(at(1234567890)))).toBe("005924");
  });

  it("uses 30-second steps: the code changes exactly at a step boundary", () => {
    expect(stepAt(at(59))).toBe(1);
    expect(stepAt(at(60))).toBe(2);
    expect(totpCode(RFC_SECRET, stepAt(at(30)))).toBe(totpCode(RFC_SECRET, stepAt(at(59))));
    expect(totpCode(RFC_SECRET, stepAt(at(60)))).not.toBe(totpCode(RFC_SECRET, stepAt(at(59))));
  });
});

describe("base32", () => {
  it("round-trips every length from 0 to 40 bytes", () => {
    for (let n = 0; n <= 40; n++) {
      const bytes = randomBytes(n);
      const text = base32Encode(bytes);
      expect(text).toMatch(/^[A-Z2-7]*$/);
      expect(text.length).toBe(Math.ceil((n * 8) / 5));
      expect(base32Decode(text).equals(bytes)).toBe(true);
    }
  });

  it("matches RFC 4648 vectors and accepts lower case and padding", () => {
    expect(base32Encode(Buffer.from("foobar"))).toBe("MZXW6YTBOI");
    expect(base32Decode("MZXW6YQ=").toString()).toBe("foob");
    expect(base32Decode("mzxw6ytboi").toString()).toBe("foobar");
  });

  it("refuses characters outside the alphabet", () => {
    expect(() => base32Decode("MZXW6Y1B")).toThrow(/invalid base32/);
    expect(() => base32Decode("MZ XW")).toThrow(/invalid base32/);
  });

  it("makes 160-bit secrets", () => {
    const secret = newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(base32Decode(secret)).toHaveLength(20);
    expect(newTotpSecret()).not.toBe(secret);
  });
});

describe("matchingStep", () => {
  const now = at(1_700_000_015);
  const current = stepAt(now);
  const codeAt = (delta: number) => totpCode(RFC_SECRET, current + delta);

  it("accepts the current step and one step of drift either way, naming the step", () => {
    for (const delta of [-1, 0, 1]) expect(matchingStep(RFC_SECRET, codeAt(delta), now)).toBe(current + delta);
  });

  it("refuses codes two or more steps away", () => {
    for (const delta of [-3, -2, 2, 3]) {
      const code = codeAt(delta);
      // Guard against a coincidence: the far code must differ from every accepted one.
      if ([-1, 0, 1].some((d) => codeAt(d) === code)) continue;
      expect(matchingStep(RFC_SECRET, code, now), `delta ${delta}`).toBeUndefined();
    }
  });

  it("refuses anything that is not six digits", () => {
    const code = codeAt(0);
    for (const bad of ["", code.slice(1), `${code}0`, ` ${code}`, "12345a", "１２３４５６"]) expect(matchingStep(RFC_SECRET, bad, now)).toBeUndefined();
  });

  it("does not accept a code of another secret", () => {
    const other = newTotpSecret();
    const code = totpCode(other, current);
    if ([-1, 0, 1].some((d) => codeAt(d) === code)) return;
    expect(matchingStep(RFC_SECRET, code, now)).toBeUndefined();
  });
});

describe("otpauth URI", () => {
  it("carries the secret, issuer, account and the parameters authenticator apps read", () => {
    const uri = new URL(otpauthUri(RFC_SECRET, "ana+mfa@example.com", "Warden Test"));
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.host).toBe("totp");
    expect(decodeURIComponent(uri.pathname)).toBe("/Warden Test:ana+mfa@example.com");
    expect(Object.fromEntries(uri.searchParams)).toEqual({ secret: RFC_SECRET, issuer: "Warden Test", algorithm: "SHA1", digits: "6", period: "30" });
  });
});
