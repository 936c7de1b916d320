import { create } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { MfaService } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import { MembershipService } from "../../gen/warden/org/v1/membership_service_pb.js";
import { MemberRole } from "../../gen/warden/org/v1/organization_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { Effect, RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { SERVICES } from "../../src/routes.js";
import { adminLogin, newUser, type SignedIn } from "../helpers/accounts.js";
import { expectError, violatedFields } from "../helpers/expect-error.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

describe("request shapes are checked by the rules in the protos (protovalidate)", () => {
  let t: TestApp;
  let admin: SignedIn;
  let user: SignedIn;
  beforeAll(async () => {
    t = await createTestApp();
    [admin, user] = await Promise.all([adminLogin(t), newUser(t, { tag: "shape" })]);
  });
  afterAll(async () => t?.close());

  it("compiles the rules of every request message the server serves", () => {
    const validator = createValidator();
    for (const service of SERVICES)
      for (const method of service.methods) {
        const result = validator.validate(method.input, create(method.input));
        expect(result.kind, `${service.typeName}/${method.name}: ${result.kind === "error" ? result.error.message : ""}`).not.toBe("error");
      }
  });

  it("answers a malformed id with INVALID_ARGUMENT naming the field", async () => {
    const err = await expectError(t.client(UserService).getUser({ id: "not-a-uuid" }, user.auth), Code.InvalidArgument, "INVALID_ARGUMENT");
    expect(violatedFields(err)).toEqual(["id"]);
    const session = await expectError(t.client(SessionService).getSession({ id: "../etc/passwd" }, user.auth), Code.InvalidArgument);
    expect(violatedFields(session)).toEqual(["id"]);
  });

  it("lists every broken rule, nested fields by their path", async () => {
    const err = await expectError(
      t.client(RoleService).createRole({ role: { name: "Not A Name", rules: [{ resources: [], verbs: ["get"], effect: Effect.UNSPECIFIED }] } }, admin.auth),
      Code.InvalidArgument,
      "INVALID_ARGUMENT",
    );
    expect(violatedFields(err).sort()).toEqual(["role.name", "role.rules[0].effect", "role.rules[0].resources"]);
    await expectError(t.client(RoleService).createRole({}, admin.auth), Code.InvalidArgument, "INVALID_ARGUMENT");
  });

  it("refuses an enum left UNSPECIFIED where one must be chosen", async () => {
    const org = (await t.client(OrganizationService).createOrganization({ name: "Shapes" }, user.auth)).organization!;
    const err = await expectError(
      t.client(MembershipService).addMember({ organizationId: org.id, userId: admin.userId, role: MemberRole.UNSPECIFIED }, user.auth),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["role"]);
    await expectError(
      t.client(MembershipService).addMember({ organizationId: org.id, userId: admin.userId, role: 99 as MemberRole }, user.auth),
      Code.InvalidArgument,
    );
  });

  it("a rule declared with a catalogue reason answers with it", async () => {
    const auth = t.client(AuthService);
    await expectError(auth.register({ email: uniqueEmail(), password: "short", displayName: "" }), Code.InvalidArgument, "PASSWORD_LENGTH");
    await expectError(auth.register({ email: uniqueEmail(), password: "x".repeat(129), displayName: "" }), Code.InvalidArgument, "PASSWORD_LENGTH");
    // Code points, not UTF-16 units: 8 astral characters are 8 characters.
    await expectError(auth.login({ email: uniqueEmail(), password: "🌀".repeat(7) }), Code.InvalidArgument, "PASSWORD_LENGTH");
    await expectError(auth.login({ email: "no-at-sign", password: "long-enough-password" }), Code.InvalidArgument, "EMAIL_INVALID");
    await expectError(t.client(MfaService).enrollPhone({ phone: "0415 555 0100" }, user.auth), Code.InvalidArgument, "PHONE_INVALID");
  });

  it("checks shape only for callers who may call: an anonymous caller learns nothing about it", async () => {
    await expectError(t.client(UserService).getUser({ id: "not-a-uuid" }), Code.Unauthenticated);
  });

  it("a refused request changes nothing", async () => {
    const orgs = t.client(OrganizationService);
    const before = (await orgs.listOrganizations({}, user.auth)).organizations.length;
    for (const name of ["", "   ", "bell\u0007", "x".repeat(101)]) await expectError(orgs.createOrganization({ name }, user.auth), Code.InvalidArgument);
    expect((await orgs.listOrganizations({}, user.auth)).organizations.length).toBe(before);
  });
});
