import { Code, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthDecision, AuthService as NauthilusAuth } from "../../gen/nauthilus/auth/v1/auth_pb.js";
import { AuditService, Outcome } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { LockService, LockTargetKind } from "../../gen/warden/lock/v1/lock_service_pb.js";
import { startBackchannel, type RunningServer } from "../../src/server.js";
import { expectError } from "../helpers/expect-error.js";
import { adminWithTotp, freshProof, signUp, type TotpMember } from "../helpers/mfa-world.js";
import { createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

const BASIC = `Basic ${Buffer.from("dovecot:dovecot-backchannel-secret-42").toString("base64")}`;

/** A locked user gets no mail session either: the backchannel answers as for a wrong password. */
describe("locks and password checks: the mail-server backchannel and VerifyCredentials", () => {
  let t: TestApp;
  let server: RunningServer;
  let mail: Client<typeof NauthilusAuth>;
  let admin: TotpMember;

  beforeAll(async () => {
    t = await createTestApp({
      backchannel_basic_auth_enabled: true,
      backchannel_basic_auth_username: "dovecot",
      backchannel_basic_auth_password: "dovecot-backchannel-secret-42",
    });
    server = await startBackchannel(t.app, "127.0.0.1:0");
    const send: Interceptor = (next) => (req) => {
      req.header.set("authorization", BASIC);
      return next(req);
    };
    mail = createClient(NauthilusAuth, createGrpcTransport({ baseUrl: server.url, interceptors: [send] }));
    admin = await adminWithTotp(t);
  });
  afterAll(async () => {
    await server?.drain(200);
    await t?.close();
  });

  it("refuses a locked user's right password with the wrong-password answer, audited as locked; unlocked, it works again", async () => {
    const user = await signUp(t, "mail-locked");
    const authenticate = () =>
      mail.authenticate({ username: user.email, password: STRONG_PASSWORD, clientIp: "203.0.113.9", clientPort: "1", protocol: "imap", method: "plain" });
    expect((await authenticate()).decision).toBe(AuthDecision.OK);

    await freshProof(t, admin);
    const { lock } = await t.client(LockService).createLock({ target: { kind: LockTargetKind.USER, value: user.userId }, message: "incident 42" }, admin.h);
    const refused = await authenticate();
    expect([refused.ok, refused.decision, refused.statusMessage]).toEqual([false, AuthDecision.FAIL, "Invalid login or password"]);
    const events = await t
      .client(AuditService)
      .queryAuditEvents({ eventTypes: ["auth.backchannel"], targetId: user.userId, outcome: Outcome.FAILURE, pageSize: 10 }, admin.h);
    expect(events.events.map((e) => e.details)).toContainEqual(expect.objectContaining({ reason: "locked", lock_id: lock!.id }));

    // VerifyCredentials, the RPC password check, refuses too.
    const verify = t.client(AuthService).verifyCredentials({ email: user.email, password: STRONG_PASSWORD });
    await expectError(verify, Code.PermissionDenied, "LOCKED");

    await t.client(LockService).deleteLock({ id: lock!.id }, admin.h);
    await expect(t.client(AuthService).verifyCredentials({ email: user.email, password: STRONG_PASSWORD })).resolves.toBeDefined();
    expect((await authenticate()).decision).toBe(AuthDecision.OK);
  });
});
