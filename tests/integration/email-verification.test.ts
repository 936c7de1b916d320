import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { DevService } from "../../gen/warden/dev/v1/dev_service_pb.js";
import { MembershipService } from "../../gen/warden/org/v1/membership_service_pb.js";
import { MemberRole } from "../../gen/warden/org/v1/organization_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { adminLogin, login } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { startSmtpInbox, verificationOf, type SmtpInbox } from "../helpers/smtp-inbox.js";
import { createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const SMTP_LOGIN = { user: "warden-relay", password: "relay-secret-0451" };

/** Settings that send mail to the in-process SMTP server (cleartext on loopback, with a login). */
const mailTo = (inbox: SmtpInbox) => ({
  smtp_host: inbox.host,
  smtp_port: inbox.port,
  smtp_require_tls: false,
  smtp_username: SMTP_LOGIN.user,
  smtp_password: SMTP_LOGIN.password,
  smtp_from: "Warden Test <accounts@warden.test>",
  smtp_timeout: 5,
});

describe("email verification by SMTP (a real SMTP server in the test)", () => {
  let inbox: SmtpInbox;
  let t: TestApp;
  const auth = () => t.client(AuthService);

  beforeAll(async () => {
    inbox = await startSmtpInbox(SMTP_LOGIN);
    t = await createTestApp({ ...mailTo(inbox), dev: true });
  });
  afterAll(async () => {
    await t?.close();
    await inbox?.close();
  });

  const register = async (email = uniqueEmail("verify")) => {
    const r = await auth().register({ email, password: STRONG_PASSWORD, displayName: "Vera" });
    return { email, r, mail: await inbox.next(email) };
  };

  it("Register creates an unverified account and mails a code and a link, through the relay's login", async () => {
    const { email, r, mail } = await register();
    expect(r.user?.emailVerified).toBe(false);
    expect(r.emailVerificationSent).toBe(true);
    expect(mail.user).toBe(SMTP_LOGIN.user);
    expect(mail.from).toBe("accounts@warden.test");
    expect(mail.raw).toMatch(/^Subject: Verify your email address/im);
    const { code, link } = verificationOf(mail);
    expect(link.startsWith("http://localhost:8080/v1/verify-email?token=")).toBe(true);
    // Dev mode shows the same code (DevService.GetOTP).
    expect((await t.client(DevService).getOTP({ email })).code).toBe(code);
    // Nothing of the code or the token is stored as such.
    const { token } = verificationOf(mail);
    const stored = JSON.stringify(await t.app.hooks.store.emailVerifications.find(r.user!.id));
    expect(stored).not.toContain(code);
    expect(stored).not.toContain(token);
  });

  it("VerifyEmail with the code verifies the account, once", async () => {
    const { email, mail } = await register();
    const { code } = verificationOf(mail);
    const verified = await auth().verifyEmail({ email, code });
    expect(verified.user?.emailVerified).toBe(true);
    await expectError(auth().verifyEmail({ email, code }), Code.InvalidArgument, "EMAIL_CODE_INVALID");
    expect((await login(t, email, STRONG_PASSWORD)).accessToken).not.toBe("");
  });

  it("refuses a wrong code, an unknown address alike, and spends the verification after five wrong codes", async () => {
    const { email, mail } = await register();
    const { code } = verificationOf(mail);
    const wrong = code === "000000" ? "111111" : "000000";
    const unknown = await expectError(auth().verifyEmail({ email: uniqueEmail("nobody"), code }), Code.InvalidArgument, "EMAIL_CODE_INVALID");
    const wrongOnce = await expectError(auth().verifyEmail({ email, code: wrong }), Code.InvalidArgument, "EMAIL_CODE_INVALID");
    expect(unknown.rawMessage).toBe(wrongOnce.rawMessage);
    for (let i = 0; i < 4; i++) await expectError(auth().verifyEmail({ email, code: wrong }), Code.InvalidArgument, "EMAIL_CODE_INVALID");
    await expectError(auth().verifyEmail({ email, code }), Code.InvalidArgument, "EMAIL_CODE_INVALID");
  });

  it("the link verifies too: by VerifyEmail{token} and by opening it (GET /v1/verify-email)", async () => {
    const first = await register();
    expect((await auth().verifyEmail({ token: verificationOf(first.mail).token })).user?.emailVerified).toBe(true);

    const second = await register();
    const server: RunningServer = await startServer(t.app, "127.0.0.1:0");
    try {
      const open = (token: string) => fetch(`${server.url}/v1/verify-email?token=${token}`);
      const page = await open(verificationOf(second.mail).token);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-security-policy")).toBe("default-src 'none'");
      expect(await page.text()).toContain("Email address verified");
      const again = await open(verificationOf(second.mail).token);
      expect(again.status).toBe(400);
      expect((await open("<script>alert(1)</script>")).status).toBe(400);
    } finally {
      await server.drain(100);
    }
    const admin = await adminLogin(t);
    const user = await t.client(UserService).getUserByEmail({ email: second.email }, admin.auth);
    expect(user.user?.emailVerified).toBe(true);
  });

  it("ResendEmailVerification sends a new code and link; the old ones stop working; a verified account has nothing to resend", async () => {
    const { email, mail } = await register();
    const signedIn = await login(t, email, STRONG_PASSWORD);
    await auth().resendEmailVerification({}, signedIn.auth);
    const fresh = verificationOf(await inbox.next(email));
    const old = verificationOf(mail);
    expect(fresh.code === old.code && fresh.token === old.token).toBe(false);
    await expectError(auth().verifyEmail({ token: old.token }), Code.InvalidArgument, "EMAIL_CODE_INVALID");
    await auth().verifyEmail({ email, code: fresh.code });
    await expectError(auth().resendEmailVerification({}, signedIn.auth), Code.FailedPrecondition, "EMAIL_ALREADY_VERIFIED");
  });

  it("limits the emails one address receives per hour (resends included)", async () => {
    const { email } = await register();
    const signedIn = await login(t, email, STRONG_PASSWORD);
    // The sign-up sent the first of five.
    for (let i = 0; i < 4; i++) await auth().resendEmailVerification({}, signedIn.auth);
    await expectError(auth().resendEmailVerification({}, signedIn.auth), Code.ResourceExhausted, "RATE_LIMITED");
  });

  it("accounts an administrator creates are verified; so is the bootstrap administrator", async () => {
    const admin = await adminLogin(t);
    const me = await t.client(UserService).getUser({ id: admin.userId }, admin.auth);
    expect(me.user?.emailVerified).toBe(true);
    const created = await t.client(UserService).createUser({ email: uniqueEmail("vouched"), password: STRONG_PASSWORD }, admin.auth);
    expect(created.user?.emailVerified).toBe(true);
  });
});

describe("when the mail server is down", () => {
  let t: TestApp;
  beforeAll(async () => {
    const gone = await startSmtpInbox();
    const settings = mailTo(gone);
    await gone.close();
    t = await createTestApp({ ...settings, smtp_username: undefined, smtp_password: undefined, smtp_timeout: 2 });
  });
  afterAll(async () => t?.close());

  it("Register still creates the account and says the email was not sent; a resend is UNAVAILABLE", async () => {
    const email = uniqueEmail("no-mail");
    const r = await t.client(AuthService).register({ email, password: STRONG_PASSWORD, displayName: "" });
    expect([r.user?.emailVerified, r.emailVerificationSent]).toEqual([false, false]);
    const signedIn = await login(t, email, STRONG_PASSWORD);
    await expectError(t.client(AuthService).resendEmailVerification({}, signedIn.auth), Code.Unavailable, "MAIL_UNAVAILABLE");
  });
});

describe("settings that withhold things from unverified accounts", () => {
  let inbox: SmtpInbox;
  let t: TestApp;
  const auth = () => t.client(AuthService);
  beforeAll(async () => {
    inbox = await startSmtpInbox(SMTP_LOGIN);
    t = await createTestApp({
      ...mailTo(inbox),
      require_verified_email_to_sign_in: true,
      require_verified_email_to_create_organization: true,
      require_verified_email_to_join_organization: true,
    });
  });
  afterAll(async () => {
    await t?.close();
    await inbox?.close();
  });

  it("sign-in waits for the email: the owner is told and gets a new email; after verifying, sign-in works", async () => {
    const email = uniqueEmail("strict");
    await auth().register({ email, password: STRONG_PASSWORD, displayName: "" });
    await inbox.next(email);
    await expectError(auth().login({ email, password: STRONG_PASSWORD }), Code.FailedPrecondition, "EMAIL_NOT_VERIFIED");
    // A wrong password learns nothing about verification.
    await expectError(auth().login({ email, password: "Wrong-password-0123" }), Code.Unauthenticated, "INVALID_CREDENTIALS");
    const { code } = verificationOf(await inbox.next(email));
    await auth().verifyEmail({ email, code });
    expect((await auth().login({ email, password: STRONG_PASSWORD })).accessToken).not.toBe("");
  });

  it("creating and joining organizations wait for it too", async () => {
    const admin = await adminLogin(t);
    const email = uniqueEmail("joiner");
    const joiner = (await auth().register({ email, password: STRONG_PASSWORD, displayName: "" })).user!;
    const org = (await t.client(OrganizationService).createOrganization({ name: "Verified only" }, admin.auth)).organization!;
    const add = () => t.client(MembershipService).addMember({ organizationId: org.id, userId: joiner.id, role: MemberRole.MEMBER }, admin.auth);
    await expectError(add(), Code.FailedPrecondition, "EMAIL_NOT_VERIFIED");
    const { code } = verificationOf(await inbox.next(email));
    await auth().verifyEmail({ email, code });
    expect((await add()).member?.userId).toBe(joiner.id);
    const signedIn = await login(t, email, STRONG_PASSWORD);
    expect((await t.client(OrganizationService).createOrganization({ name: "Mine" }, signedIn.auth)).organization?.callerRole).toBe(MemberRole.OWNER);
  });
});
