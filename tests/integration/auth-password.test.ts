import { Code } from "@connectrpc/connect";
import * as argon2 from "@node-rs/argon2";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { ARGON2_PARAMS } from "../../src/crypto/password-hasher.js";
import { adminLogin, login, newUser, type SignedIn } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { createTestApp, hashesDone, IN_MEMORY_ADDRESS, STRONG_PASSWORD, type HashCounts, type TestApp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

// argon2 as it is, with its verifications recorded: which hashes the app verifies, and the answers.
vi.mock("@node-rs/argon2", async (importOriginal) => {
  const real = await importOriginal<typeof argon2>();
  return { ...real, verify: vi.fn(real.verify) };
});

const WRONG_PASSWORD = "Wrong-password-0123";

/** n distinct astral code points (two UTF-16 units each), shuffled so zxcvbn sees no sequence. */
function astral(n: number): string {
  return Array.from({ length: n }, (_, i) => String.fromCodePoint(0x1f300 + ((i * 37) % 256))).join("");
}

// One app (default account budget: 10 failures); the window's expiry is in tests/unit/account-budget.test.ts.
let t: TestApp;
/** Calls of the real argon2id hasher, counted to prove when no hashing happened. */
let hashes: HashCounts;
beforeAll(async () => {
  t = await createTestApp({}, { countHashes: true });
  hashes = t.hashes;
});
afterAll(async () => t?.close());

const auth = () => t.client(AuthService);

describe("passwords", () => {
  let admin: SignedIn;
  let member: SignedIn;

  beforeAll(async () => {
    admin = await adminLogin(t);
    member = await newUser(t, { tag: "member" });
  });

  /** Registers with the password, then proves exactly that password (and not `near`) signs in. */
  async function expectExactPassword(password: string, near: string): Promise<void> {
    const email = uniqueEmail("exact");
    await auth().register({ email, password });
    await expect(login(t, email, password)).resolves.toMatchObject({ email });
    await expectError(login(t, email, near), Code.Unauthenticated, "INVALID_CREDENTIALS");
  }

  it("accepts 8 and 128 code points, counted as code points rather than UTF-16 units", async () => {
    expect(astral(8)).toHaveLength(16);
    await expectExactPassword(astral(8), astral(9));
    await expectExactPassword(astral(128), astral(127));
  });

  it("verifies a password exactly as typed: a leading or trailing space makes a different password", async () => {
    await expectExactPassword(`${STRONG_PASSWORD} `, STRONG_PASSWORD);
    await expectExactPassword(STRONG_PASSWORD, `${STRONG_PASSWORD} `);
    await expectExactPassword(` ${STRONG_PASSWORD}`, STRONG_PASSWORD);
  });

  it("accepts a non-ASCII password", async () => {
    await expectExactPassword("Ünïcødé-Пароль-密码-🔑", "Unicode-Пароль-密码-🔑");
  });

  it("never truncates: passwords sharing their first 100 bytes are different", async () => {
    const prefix = "correct-Horse-battery-staple-".repeat(4);
    expect(Buffer.byteLength(prefix)).toBeGreaterThan(100);
    await expectExactPassword(`${prefix}tail-one`, `${prefix}tail-two`);
  });

  const lengthCases: [string, (pw: string) => Promise<unknown>][] = [
    ["Register", (pw) => auth().register({ email: uniqueEmail("len"), password: pw })],
    ["Login", (pw) => auth().login({ email: member.email, password: pw })],
    ["AuthenticateLocal", (pw) => auth().authenticateLocal({ username: member.email, password: pw })],
    ["VerifyCredentials", (pw) => auth().verifyCredentials({ email: member.email, password: pw })],
    ["ChangePassword", (pw) => auth().changePassword({ currentPassword: STRONG_PASSWORD, newPassword: pw }, member.auth)],
    ["CreateUser", (pw) => t.client(UserService).createUser({ email: uniqueEmail("len"), password: pw }, admin.auth)],
  ];

  it.each(lengthCases)("%s refuses 7 and 129 code points with PASSWORD_LENGTH before any hashing", async (_name, call) => {
    for (const password of [astral(7), astral(129), "1234567"]) {
      const before = hashesDone(hashes);
      await expectError(call(password), Code.InvalidArgument, "PASSWORD_LENGTH");
      expect(hashesDone(hashes)).toBe(before);
    }
  });

  it.each(["password123", "qwertyuiop", "iloveyou123", "Password1!"])("Register refuses the common password %s", async (password) => {
    await expectError(auth().register({ email: uniqueEmail("weak"), password }), Code.InvalidArgument, "PASSWORD_TOO_WEAK");
  });

  it("ChangePassword refuses a common password and keeps the old one", async () => {
    const u = await newUser(t, { tag: "weak-change" });
    for (const newPassword of ["password123", "qwertyuiop"])
      await expectError(auth().changePassword({ currentPassword: u.password, newPassword }, u.auth), Code.InvalidArgument, "PASSWORD_TOO_WEAK");
    await expect(login(t, u.email, u.password)).resolves.toMatchObject({ userId: u.userId });
  });

  it("refuses a password built from the user's own email", async () => {
    await expectError(auth().register({ email: "rosalind.franklin@example.test", password: "rosalind.franklin" }), Code.InvalidArgument, "PASSWORD_TOO_WEAK");
  });

  it("treats an email differing only in case as a duplicate: ALREADY_EXISTS", async () => {
    const email = uniqueEmail("Dup");
    await auth().register({ email, password: STRONG_PASSWORD });
    await expectError(auth().register({ email: email.toUpperCase(), password: STRONG_PASSWORD }), Code.AlreadyExists, "EMAIL_TAKEN");
    await expectError(auth().register({ email: `  ${email}  `, password: STRONG_PASSWORD }), Code.AlreadyExists, "EMAIL_TAKEN");
    await expect(login(t, email.toUpperCase(), STRONG_PASSWORD)).resolves.toBeDefined();
  });

  it.each(["not-an-email", "a@b", "evil\r\n@example.test", "a\u0000b@example.test", `${"x".repeat(250)}@example.test`])(
    "refuses the malformed email %j with INVALID_ARGUMENT",
    async (email) => {
      await expectError(auth().register({ email, password: STRONG_PASSWORD }), Code.InvalidArgument);
    },
  );
});

describe("login failures do not reveal whether the account exists", () => {
  let known: SignedIn;
  beforeAll(async () => {
    known = await newUser(t, { tag: "known" });
  });

  const attempt = (email: string) => auth().login({ email, password: WRONG_PASSWORD });

  it("answers an unknown email and a wrong password with the same code, reason and message", async () => {
    const unknown = await expectError(attempt(uniqueEmail("nobody")), Code.Unauthenticated, "INVALID_CREDENTIALS");
    const wrong = await expectError(attempt(known.email), Code.Unauthenticated, "INVALID_CREDENTIALS");
    expect(unknown.rawMessage).toBe(wrong.rawMessage);
    expect(unknown.details).toEqual(wrong.details);
  });

  it("spends one argon2id verification on either, the unknown email's against a dummy hash with the stored hashes' parameters", async () => {
    const argon2Verify = vi.mocked(argon2.verify);
    /** The hasher calls of one refused login, and the hashes argon2 verified (with its answers). */
    const costOf = async (email: string) => {
      const before = { ...hashes };
      argon2Verify.mockClear();
      await expectError(attempt(email), Code.Unauthenticated, "INVALID_CREDENTIALS");
      return {
        calls: { hash: hashes.hash - before.hash, verify: hashes.verify - before.verify, verifyDummy: hashes.verifyDummy - before.verifyDummy },
        verified: argon2Verify.mock.calls.map(([hashed]) => String(hashed)),
        answers: argon2Verify.mock.settledResults.map((r) => r.value),
      };
    };
    const unknown = await costOf(uniqueEmail("nobody"));
    const wrong = await costOf(known.email);

    expect(unknown.calls, "an unknown email").toEqual({ hash: 0, verify: 0, verifyDummy: 1 });
    expect(wrong.calls, "a wrong password").toEqual({ hash: 0, verify: 1, verifyDummy: 0 });
    // Each reached argon2 exactly once and was refused by it: real verifications, not shortcuts.
    const stored = (await t.app.hooks.store.users.findByEmail(known.email))!.passwordHash!;
    expect(wrong).toMatchObject({ verified: [stored], answers: [false] });
    expect(unknown).toMatchObject({ verified: [expect.any(String)], answers: [false] });
    const [dummy] = unknown.verified;
    expect(dummy).not.toBe(stored);
    // The same algorithm, version and cost (memory, passes, lanes) as every stored hash.
    const { memoryCost, timeCost, parallelism } = ARGON2_PARAMS;
    const parameters = (encoded: string) => /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$/.exec(encoded)?.[0];
    expect(parameters(stored)).toBe(`$argon2id$v=19$m=${memoryCost},t=${timeCost},p=${parallelism}$`);
    expect(parameters(dummy!)).toBe(parameters(stored));
  });
});

describe("account lockout (10 failures per account and address by default)", () => {
  const wrong = (email: string) => auth().login({ email, password: WRONG_PASSWORD });
  const parallelWrong = (email: string, n: number) => Promise.allSettled(Array.from({ length: n }, () => wrong(email)));
  const codesOf = (results: PromiseSettledResult<unknown>[]) => results.map((r) => (r.status === "rejected" ? (r.reason as { code: Code }).code : "ok"));

  it("counts N parallel wrong passwords exactly N times", async () => {
    const u = await newUser(t, { tag: "parallel" });
    const results = await parallelWrong(u.email, 8);
    expect(codesOf(results)).toEqual(Array(8).fill(Code.Unauthenticated));
    expect(await t.app.hooks.limiter.consumed(u.email)).toBe(8);
  });

  it("of 15 parallel attempts, exactly 10 reach the hasher and 5 are RESOURCE_EXHAUSTED", async () => {
    const u = await newUser(t, { tag: "burst" });
    const before = hashes.verify;
    const codes = codesOf(await parallelWrong(u.email, 15));
    expect(codes.filter((c) => c === Code.Unauthenticated)).toHaveLength(10);
    expect(codes.filter((c) => c === Code.ResourceExhausted)).toHaveLength(5);
    expect(hashes.verify - before).toBe(10);
  });

  it("refuses even the correct password once locked, on every password path, without hashing", async () => {
    const u = await newUser(t, { tag: "locked" });
    await parallelWrong(u.email, 10);
    const before = hashesDone(hashes);
    const err = await expectError(login(t, u.email, u.password), Code.ResourceExhausted, "RATE_LIMITED");
    expect(Number(err.metadata.get("retry-after"))).toBeGreaterThan(0);
    await expectError(auth().authenticateLocal({ username: u.email, password: u.password }), Code.ResourceExhausted, "RATE_LIMITED");
    await expectError(auth().verifyCredentials({ email: u.email, password: u.password }), Code.ResourceExhausted, "RATE_LIMITED");
    await expectError(
      auth().changePassword({ currentPassword: u.password, newPassword: "another-Strong-pass-8812" }, u.auth),
      Code.ResourceExhausted,
      "RATE_LIMITED",
    );
    expect(hashesDone(hashes)).toBe(before);
  });

  it("does not let wrong passwords block the refresh of a session that existed before", async () => {
    const u = await newUser(t, { tag: "locked-refresh" });
    await parallelWrong(u.email, 10);
    expect(await t.app.hooks.limiter.accountLocked(u.email, IN_MEMORY_ADDRESS)).toBe(true);
    await expect(auth().refresh({ refreshToken: u.refreshToken })).resolves.toMatchObject({ accessToken: expect.any(String) });
  });

  it("counts failures from every password path in one bucket per account", async () => {
    const u = await newUser(t, { tag: "paths" });
    await Promise.allSettled([
      wrong(u.email.toUpperCase()),
      auth().verifyCredentials({ email: u.email, password: WRONG_PASSWORD }),
      auth().authenticateLocal({ username: u.email, password: WRONG_PASSWORD }),
      auth().changePassword({ currentPassword: WRONG_PASSWORD, newPassword: "another-Strong-pass-8812" }, u.auth),
    ]);
    expect(await t.app.hooks.limiter.consumed(u.email)).toBe(4);
  });

  it("locks an unknown account the same way (no hint that it does not exist)", async () => {
    const email = uniqueEmail("ghost");
    await parallelWrong(email, 10);
    await expectError(wrong(email), Code.ResourceExhausted, "RATE_LIMITED");
  });

  it("resets the count after a successful login", async () => {
    const u = await newUser(t, { tag: "reset" });
    await parallelWrong(u.email, 9);
    await login(t, u.email, u.password);
    expect(await t.app.hooks.limiter.consumed(u.email)).toBe(0);
    expect(codesOf(await parallelWrong(u.email, 10))).toEqual(Array(10).fill(Code.Unauthenticated));
  });
});
