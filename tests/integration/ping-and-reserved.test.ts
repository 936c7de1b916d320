import { Code } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { ConnectorService } from "../../gen/warden/connector/v1/connector_service_pb.js";
import { PluginService } from "../../gen/warden/plugin/v1/plugin_service_pb.js";
import { VERSION } from "../../src/version.js";
import { expectError } from "../helpers/expect-error.js";
import { addTotp, adminWithTotp, freshProof, signUp, type TotpMember } from "../helpers/mfa-world.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, type TestApp } from "../helpers/test-app.js";

describe("AuthService/Ping", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      cluster_name: "ping.example",
      google_client_ids: "web-client.apps.example",
      webauthn_rp_id: "id.ping.example",
      webauthn_origins: "https://id.ping.example",
    });
  });
  afterAll(async () => t?.close());

  it("answers anyone with the cluster, the version and the enabled sign-in methods", async () => {
    const r = await t.client(AuthService).ping({});
    expect(r.clusterName).toBe("ping.example");
    expect(r.serverVersion).toBe(VERSION);
    expect(r.webauthnRpId).toBe("id.ping.example");
    expect(timestampDate(r.serverTime!).getTime()).toBe(t.clock.now().getTime());
    expect(r.authMethods).toEqual(expect.arrayContaining(["password", "totp", "passkey", "google", "web_login", "join_token", "iam"]));
    // No SMS sender, no SPIFFE trust bundle, no OIDC connector yet.
    expect(r.authMethods).not.toContain("sms");
    expect(r.authMethods).not.toContain("spiffe");
    expect(r.authMethods).not.toContain("oidc");
  });

  it("lists oidc once an administrator has added a connector (checked every 30 s at most)", async () => {
    const login = await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    await t.client(ConnectorService).createConnector(
      {
        connector: { id: "acme", displayName: "Acme", issuerUrl: "https://login.acme.example", jwksUrl: "https://login.acme.example/jwks", clientIds: ["c"] },
      },
      bearer(login.accessToken),
    );
    expect((await t.client(AuthService).ping({})).authMethods).not.toContain("oidc");
    t.clock.advance(31);
    expect((await t.client(AuthService).ping({})).authMethods).toContain("oidc");
  });
});

describe("reserved plugin methods", () => {
  let t: TestApp;
  let admin: TotpMember;
  let member: TotpMember;
  const fresh = (m: TotpMember) => freshProof(t, m);
  beforeAll(async () => {
    t = await createTestApp();
    admin = await adminWithTotp(t);
    member = await addTotp(t, await signUp(t, "reserved-member"));
  });
  afterAll(async () => t?.close());

  it("check the caller first: no credential, then a non-administrator, are refused as for any admin method", async () => {
    await expectError(t.client(PluginService).listPlugins({}), Code.Unauthenticated);
    await fresh(member);
    await expectError(t.client(PluginService).listPlugins({}, member.h), Code.PermissionDenied);
  });

  it("answer an administrator UNIMPLEMENTED with reason RESERVED_RPC, after the fresh second factor where the method wants one", async () => {
    await expectError(t.client(PluginService).configurePlugin({ name: "hook" }, admin.h), Code.FailedPrecondition, "MFA_REQUIRED");
    await fresh(admin);
    const plugins = t.client(PluginService);
    for (const call of [
      plugins.configurePlugin({ name: "hook" }, admin.h),
      plugins.listPlugins({}, admin.h),
      plugins.setPluginEnabled({ name: "hook", enabled: true }, admin.h),
    ]) {
      const err = await expectError(call, Code.Unimplemented, "RESERVED_RPC");
      expect(err.rawMessage).toMatch(/reserved in this version of Warden/);
    }
    // Bad input is still refused as such before the reserved answer.
    await expectError(plugins.setPluginEnabled({ name: "" }, admin.h), Code.InvalidArgument);
  });
});
