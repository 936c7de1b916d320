import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { decodeProtectedHeader, SignJWT, UnsecuredJWT, type JWTHeaderParameters, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/warden/admin/v1/admin_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { adminLogin, newUser, type SignedIn } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { createTestApp } from "../helpers/test-app.js";
import { bearer, type TestApp } from "../helpers/test-app.js";

const HS256_SECRET = "hs256-test-secret-0123456789abcdefghijkl";

function b64url(value: unknown): string {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

/** A JWT signed with any key and any header, as an attacker would build it. */
async function forge(key: KeyObject | Uint8Array, header: JWTHeaderParameters, claims: JWTPayload): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header).sign(key);
}

/** Claims a genuine access token of this session would carry, at the app's current time. */
function claimsFor(t: TestApp, u: SignedIn, changes: JWTPayload = {}): JWTPayload {
  const now = Math.floor(t.clock.now().getTime() / 1000);
  return { sub: u.userId, sid: u.sessionId, token_type: "access", iss: "warden", aud: "warden", iat: now, exp: now + 900, ...changes };
}

function validate(t: TestApp, token: string) {
  return t.client(SessionService).validateSession({}, bearer(token));
}

describe("access tokens (EdDSA)", () => {
  let t: TestApp;
  let u: SignedIn;
  const attacker = generateKeyPairSync("ed25519");
  const ours = () => t.app.hooks.keys.signingKey();
  const ourHeader = (extra: Partial<JWTHeaderParameters> = {}): JWTHeaderParameters => ({ alg: "EdDSA", kid: ours().kid, typ: "JWT", ...extra });
  /** Our key, our header, the session's claims with some changed: forgeries differing in one point. */
  const withClaims = (changes: (now: number) => JWTPayload) => () => forge(ours().privateKey, ourHeader(), claimsFor(t, u, changes(claimsFor(t, u).iat!)));

  beforeAll(async () => {
    t = await createTestApp();
    u = await newUser(t, { tag: "tokens" });
  });
  afterAll(async () => t?.close());

  it("accepts a genuine token, and a token built here with our key (so the forgeries below differ in one point only)", async () => {
    await expect(validate(t, u.accessToken)).resolves.toMatchObject({ valid: true, userId: u.userId });
    const rebuilt = await forge(ours().privateKey, ourHeader(), claimsFor(t, u));
    await expect(validate(t, rebuilt)).resolves.toMatchObject({ valid: true, userId: u.userId });
  });

  const forgeries: [string, string | undefined, () => Promise<string>][] = [
    ["alg none (jose UnsecuredJWT)", "TOKEN_ALGORITHM", async () => new UnsecuredJWT(claimsFor(t, u)).encode()],
    ["alg none with our kid", "TOKEN_ALGORITHM", async () => `${b64url({ alg: "none", kid: ours().kid })}.${b64url(claimsFor(t, u))}.`],
    ["alg None (case games)", "TOKEN_ALGORITHM", async () => `${b64url({ alg: "None", kid: ours().kid })}.${b64url(claimsFor(t, u))}.`],
    [
      "HS256 keyed with our Ed25519 public key bytes",
      "TOKEN_ALGORITHM",
      () => forge(Buffer.from(ours().publicJwk!.x as string, "base64url"), ourHeader({ alg: "HS256" }), claimsFor(t, u)),
    ],
    [
      "HS256 keyed with our public JWK as published",
      "TOKEN_ALGORITHM",
      () => forge(Buffer.from(JSON.stringify(t.app.keys.jwks().keys[0])), ourHeader({ alg: "HS256" }), claimsFor(t, u)),
    ],
    [
      "HS256 keyed with our public key PEM",
      "TOKEN_ALGORITHM",
      () => forge(Buffer.from(createPublicKey(ours().privateKey).export({ type: "spki", format: "pem" })), ourHeader({ alg: "HS256" }), claimsFor(t, u)),
    ],
    ["an unknown kid", "TOKEN_KEY_UNKNOWN", () => forge(attacker.privateKey, ourHeader({ kid: "attacker-key-1" }), claimsFor(t, u))],
    ["no kid at all", "TOKEN_KEY_UNKNOWN", () => forge(ours().privateKey, { alg: "EdDSA" }, claimsFor(t, u))],
    ["our kid but another key's signature", "TOKEN_INVALID", () => forge(attacker.privateKey, ourHeader(), claimsFor(t, u))],
    [
      "an embedded jwk header naming the attacker's key",
      "TOKEN_HEADER",
      () => forge(attacker.privateKey, ourHeader({ jwk: attacker.publicKey.export({ format: "jwk" }) as JWTHeaderParameters["jwk"] }), claimsFor(t, u)),
    ],
    [
      "a jku header (even when our key signed)",
      "TOKEN_HEADER",
      () => forge(ours().privateKey, ourHeader({ jku: "https://attacker.example/jwks.json" }), claimsFor(t, u)),
    ],
    ["an x5u header", "TOKEN_HEADER", () => forge(ours().privateKey, ourHeader({ x5u: "https://attacker.example/cert.pem" }), claimsFor(t, u))],
    ["iat in the future", "TOKEN_NOT_YET_VALID", withClaims((now) => ({ iat: now + 600, exp: now + 1500 }))],
    ["nbf in the future", "TOKEN_INVALID", withClaims((now) => ({ nbf: now + 600 }))],
    ["exp in the past", "TOKEN_EXPIRED", withClaims((now) => ({ iat: now - 1000, exp: now - 100 }))],
    ["a wrong aud", "TOKEN_INVALID", withClaims(() => ({ aud: "another-service" }))],
    ["no aud", "TOKEN_INVALID", withClaims(() => ({ aud: undefined }))],
    ["a wrong iss", "TOKEN_INVALID", withClaims(() => ({ iss: "https://evil.example" }))],
    ["token_type refresh", "TOKEN_TYPE", withClaims(() => ({ token_type: "refresh" }))],
    ["no token_type", "TOKEN_TYPE", withClaims(() => ({ token_type: undefined }))],
    ["a user's session claims typed as a service account", undefined, withClaims(() => ({ token_type: "service_account" }))],
    ["no sid", "TOKEN_INVALID", withClaims(() => ({ sid: undefined }))],
    ["a sub that is not the session's user", "TOKEN_INVALID", withClaims(() => ({ sub: "00000000-0000-4000-8000-000000000000" }))],
    ["the refresh token presented as an access token", "TOKEN_MALFORMED", async () => u.refreshToken],
    ["the session id presented as a token", "TOKEN_MALFORMED", async () => u.sessionId],
  ];

  it.each(forgeries)("refuses %s with UNAUTHENTICATED (%s)", async (_name, reason, build) => {
    await expectError(validate(t, await build()), Code.Unauthenticated, reason);
  });

  it("answers valid=false (not an error) when the forged token comes in the request body", async () => {
    const token = await forge(attacker.privateKey, ourHeader(), claimsFor(t, u));
    const r = await t.client(SessionService).validateSession({ token }, u.auth);
    expect(r).toMatchObject({ valid: false, userId: "" });
  });

  it("refuses mangled tokens with UNAUTHENTICATED, never an internal error", async () => {
    let seed = 20300;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/{}"';
    const good = u.accessToken;
    const [h, p, s] = good.split(".") as [string, string, string];
    const mutants = new Set<string>([
      ".",
      "..",
      "...",
      "a.b.c",
      `${h}.${p}`,
      `${good}.extra`,
      `${b64url("[]")}.${b64url("{}")}.`,
      `${b64url('{"alg":"EdDSA","kid":123}')}.${p}.${s}`,
      `${b64url('{"alg":["EdDSA"]}')}.${p}.${s}`,
      `${b64url('{"alg":"EdDSA","kid":"__proto__"}')}.${p}.${s}`,
      `${h}.${b64url("not json")}.${s}`,
      `${h}.${b64url({ ...claimsFor(t, u), iat: "soon", exp: [1] })}.${s}`,
      `${h}.${b64url("x".repeat(3000))}.${s}`,
    ]);
    while (mutants.size < 150) {
      const chars = [...good];
      for (let i = 0, n = 1 + Math.floor(random() * 4); i < n; i++)
        chars[Math.floor(random() * chars.length)] = alphabet[Math.floor(random() * alphabet.length)]!;
      const mutant = chars.join("");
      mutants.add(random() < 0.2 ? mutant.slice(0, 1 + Math.floor(random() * (mutant.length - 1))) : mutant);
    }
    mutants.delete(good);
    for (const token of mutants) await expectError(validate(t, token), Code.Unauthenticated);
  });

  it("refuses a malformed authorization header", async () => {
    for (const authorization of [`Basic ${u.accessToken}`, `Bearer  ${u.accessToken}`, `Bearer ${u.accessToken} extra`, "Bearer", "Bearer "])
      await expectError(t.client(SessionService).validateSession({}, { headers: { authorization } }), Code.Unauthenticated);
  });

  it("refuses a call with no credential at all", async () => {
    await expectError(t.client(SessionService).validateSession({}), Code.Unauthenticated);
  });

  it("refuses a genuine token once it has expired (15 minutes)", async () => {
    const fresh = await newUser(t, { tag: "expiry" });
    t.clock.advance(14 * 60);
    await expect(validate(t, fresh.accessToken)).resolves.toMatchObject({ valid: true });
    t.clock.advance(60 + 10);
    await expectError(validate(t, fresh.accessToken), Code.Unauthenticated, "TOKEN_EXPIRED");
  });

  describe("signing key rotation", () => {
    let admin: SignedIn;
    let v: SignedIn;
    const kidOf = (token: string) => decodeProtectedHeader(token).kid;
    const jwksKids = () => t.app.keys.jwks().keys.map((k) => k.kid);

    beforeAll(async () => {
      admin = await adminLogin(t);
      v = await newUser(t, { tag: "rotation" });
    });

    it("is for administrators only", async () => {
      await expectError(t.client(AdminService).rotateSigningKey({}, v.auth), Code.PermissionDenied, "PERMISSION_REQUIRED");
      await expectError(t.client(AdminService).rotateSigningKey({}), Code.Unauthenticated);
    });

    it("keeps tokens of the previous key valid until that key retires, then refuses them", async () => {
      const oldKid = t.app.hooks.keys.signingKey().kid;
      expect(jwksKids()).toEqual([oldKid]);
      // Outlives the retired key's verification window, so only the key's retirement can end it.
      const longLived = await t.app.hooks.tokens.issue({ sub: v.userId, sid: v.sessionId, tokenType: "access", ttlSeconds: 3 * 3600 });

      const rotated = await t.client(AdminService).rotateSigningKey({}, admin.auth);
      expect(rotated.previousKeyId).toBe(oldKid);
      expect(rotated.keyId).not.toBe(oldKid);
      expect(jwksKids().sort()).toEqual([oldKid, rotated.keyId].sort());

      const newer = await newUser(t, { tag: "after-rotation" });
      expect(kidOf(newer.accessToken)).toBe(rotated.keyId);
      expect(kidOf(v.accessToken)).toBe(oldKid);
      await expect(validate(t, v.accessToken)).resolves.toMatchObject({ valid: true });
      await expect(validate(t, longLived.token)).resolves.toMatchObject({ valid: true });

      const retired = (await t.app.hooks.keys.verificationKey(oldKid))!;
      expect(retired.verifyUntil).toBeDefined();
      t.clock.advance((retired.verifyUntil!.getTime() - t.clock.now().getTime()) / 1000 - 30);
      await expect(validate(t, longLived.token)).resolves.toMatchObject({ valid: true });

      t.clock.advance(31);
      await expectError(validate(t, longLived.token), Code.Unauthenticated, "TOKEN_KEY_UNKNOWN");
      expect(jwksKids()).toEqual([rotated.keyId]);
      const later = await newUser(t, { tag: "later" });
      await expect(validate(t, later.accessToken)).resolves.toMatchObject({ valid: true });
    });
  });
});

describe("HS256 mode", () => {
  let t: TestApp;
  let u: SignedIn;
  beforeAll(async () => {
    t = await createTestApp({ jwt_algorithm: "HS256", jwt_hs256_secret: HS256_SECRET });
    u = await newUser(t, { tag: "hs256" });
  });
  afterAll(async () => t?.close());

  const kid = () => t.app.hooks.keys.signingKey().kid;

  it("issues HS256 tokens that validate, and publishes no keys", async () => {
    expect(decodeProtectedHeader(u.accessToken).alg).toBe("HS256");
    await expect(validate(t, u.accessToken)).resolves.toMatchObject({ valid: true, userId: u.userId });
    const rebuilt = await forge(Buffer.from(HS256_SECRET), { alg: "HS256", kid: kid() }, claimsFor(t, u));
    await expect(validate(t, rebuilt)).resolves.toMatchObject({ valid: true });
    expect(t.app.keys.jwks().keys).toEqual([]);
  });

  it("refuses an EdDSA token", async () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    await expectError(validate(t, await forge(privateKey, { alg: "EdDSA", kid: kid() }, claimsFor(t, u))), Code.Unauthenticated, "TOKEN_ALGORITHM");
  });

  it("refuses an HS256 token signed with another secret, and alg none", async () => {
    const other = await forge(Buffer.from("another-secret-of-enough-length-0123456789"), { alg: "HS256", kid: kid() }, claimsFor(t, u));
    await expectError(validate(t, other), Code.Unauthenticated, "TOKEN_INVALID");
    await expectError(validate(t, `${b64url({ alg: "none", kid: kid() })}.${b64url(claimsFor(t, u))}.`), Code.Unauthenticated, "TOKEN_ALGORITHM");
  });

  it("refuses to rotate a key that comes from configuration", async () => {
    const admin = await adminLogin(t);
    await expectError(t.client(AdminService).rotateSigningKey({}, admin.auth), Code.FailedPrecondition, "HS256_KEY_FROM_CONFIG");
  });
});
