import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/warden/admin/v1/admin_service_pb.js";
import { ApiKeyService } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { AuditService } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { ConnectorService } from "../../gen/warden/connector/v1/connector_service_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { Effect, RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { adminLogin, newUser, type SignedIn } from "../helpers/accounts.js";
import { outcome } from "../helpers/expect-error.js";
import { createTestApp, STRONG_PASSWORD, type TestApp, caughtUp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

type RoleName = "admin" | "auditor" | "user-manager" | "none";
const ROLES: RoleName[] = ["admin", "auditor", "user-manager", "none"];

interface Scene {
  /** A plain user (no roles) the calls may act on; new for every mutating call. */
  target: SignedIn;
  /** A user who holds a role. */
  privileged: SignedIn;
  /** An organization the caller does not belong to. */
  foreignOrgId: string;
}

interface Case {
  rpc: string;
  allowed: RoleName[];
  call(t: TestApp, s: Scene, as: { headers: Record<string, string> }): Promise<unknown>;
  /** The refusal when not allowed, by role: PERMISSION_REQUIRED unless the domain decides further in. */
  refusal?: Partial<Record<RoleName, string>> | string;
}

/** Every method a system role may open, with the roles that may call it: the README's role table. */
const CASES: Case[] = [
  { rpc: "AdminService/GetSystemStats", allowed: ["admin", "auditor"], call: (t, _s, as) => t.client(AdminService).getSystemStats({}, as) },
  { rpc: "AdminService/RotateSigningKey", allowed: ["admin"], call: (t, _s, as) => t.client(AdminService).rotateSigningKey({}, as) },
  { rpc: "AuditService/ListAuditLogs", allowed: ["admin", "auditor"], call: (t, _s, as) => t.client(AuditService).listAuditLogs({ pageSize: 1 }, as) },
  { rpc: "AuditService/QueryAuditEvents", allowed: ["admin", "auditor"], call: (t, _s, as) => t.client(AuditService).queryAuditEvents({ pageSize: 1 }, as) },
  { rpc: "AuditService/VerifyAuditChain", allowed: ["admin", "auditor"], call: (t, _s, as) => t.client(AuditService).verifyAuditChain({}, as) },
  { rpc: "UserService/ListUsers", allowed: ["admin", "auditor", "user-manager"], call: (t, _s, as) => t.client(UserService).listUsers({ pageSize: 1 }, as) },
  {
    rpc: "UserService/CreateUser",
    allowed: ["admin", "user-manager"],
    call: (t, _s, as) => t.client(UserService).createUser({ email: uniqueEmail("made"), password: STRONG_PASSWORD }, as),
  },
  {
    rpc: "UserService/CreateUser with a role",
    allowed: ["admin"],
    refusal: { "user-manager": "ROLE_ASSIGNMENT_REQUIRED" },
    call: (t, _s, as) => t.client(UserService).createUser({ email: uniqueEmail("made"), password: STRONG_PASSWORD, roles: ["auditor"] }, as),
  },
  {
    rpc: "UserService/UpdateUser",
    allowed: ["admin", "user-manager"],
    call: (t, s, as) => t.client(UserService).updateUser({ id: s.target.userId, displayName: "Renamed" }, as),
  },
  {
    rpc: "UserService/UpdateUser granting a role",
    allowed: ["admin"],
    refusal: { "user-manager": "ROLE_ASSIGNMENT_REQUIRED" },
    call: (t, s, as) => t.client(UserService).updateUser({ id: s.target.userId, roles: ["user-manager"], updateRoles: true }, as),
  },
  { rpc: "UserService/DisableUser", allowed: ["admin", "user-manager"], call: (t, s, as) => t.client(UserService).disableUser({ id: s.target.userId }, as) },
  {
    rpc: "UserService/DisableUser of a user who holds a role",
    allowed: ["admin"],
    refusal: { "user-manager": "ROLE_ASSIGNMENT_REQUIRED" },
    call: (t, s, as) => t.client(UserService).disableUser({ id: s.privileged.userId }, as),
  },
  { rpc: "UserService/EnableUser", allowed: ["admin", "user-manager"], call: (t, s, as) => t.client(UserService).enableUser({ id: s.target.userId }, as) },
  { rpc: "UserService/DeleteUser", allowed: ["admin", "user-manager"], call: (t, s, as) => t.client(UserService).deleteUser({ id: s.target.userId }, as) },
  {
    rpc: "RoleService/CreateRole",
    allowed: ["admin"],
    call: (t, _s, as) =>
      t
        .client(RoleService)
        .createRole({ role: { name: `r-${uniqueEmail("x").slice(2, 12)}`, rules: [{ resources: ["user"], verbs: ["get"], effect: Effect.ALLOW }] } }, as),
  },
  { rpc: "RoleService/DeleteRole", allowed: ["admin"], call: (t, _s, as) => t.client(RoleService).deleteRole({ name: "no-such-role" }, as) },
  {
    rpc: "OrganizationService/SuspendOrganization",
    allowed: ["admin"],
    call: (t, s, as) => t.client(OrganizationService).suspendOrganization({ id: s.foreignOrgId, suspended: false }, as),
  },
  {
    rpc: "OrganizationService/GetOrganization of another's",
    allowed: ["admin"],
    refusal: "ORGANIZATION_ROLE_REQUIRED",
    call: (t, s, as) => t.client(OrganizationService).getOrganization({ id: s.foreignOrgId }, as),
  },
  {
    rpc: "ApiKeyService/ListApiKeys of another's organization",
    allowed: ["admin"],
    refusal: "ORGANIZATION_ROLE_REQUIRED",
    call: (t, s, as) => t.client(ApiKeyService).listApiKeys({ organizationId: s.foreignOrgId }, as),
  },
  { rpc: "ConnectorService/ListConnectors", allowed: ["admin"], call: (t, _s, as) => t.client(ConnectorService).listConnectors({}, as) },
  {
    rpc: "SessionService/ListSessions of another user",
    allowed: ["admin", "user-manager"],
    refusal: "NOT_OWN_SESSION",
    call: (t, s, as) => t.client(SessionService).listSessions({ userId: s.target.userId }, as),
  },
  {
    rpc: "SessionService/RevokeAllSessionsForUser of another user",
    allowed: ["admin", "user-manager"],
    refusal: "NOT_OWN_SESSION",
    call: (t, s, as) => t.client(SessionService).revokeAllSessionsForUser({ userId: s.target.userId }, as),
  },
];

describe("role x RPC matrix: the built-in roles through the real interceptor chain", () => {
  let t: TestApp;
  const callers = new Map<RoleName, SignedIn>();
  let scene: Omit<Scene, "target">;

  beforeAll(async () => {
    t = await createTestApp();
    const admin = await adminLogin(t);
    callers.set("admin", admin);
    for (const role of ["auditor", "user-manager", "none"] as const) {
      const u = await newUser(t, { tag: `matrix-${role}` });
      if (role !== "none") await t.client(UserService).updateUser({ id: u.userId, roles: [role], updateRoles: true }, admin.auth);
      callers.set(role, u);
    }
    const privileged = await newUser(t, { tag: "matrix-privileged" });
    await t.client(UserService).updateUser({ id: privileged.userId, roles: ["auditor"], updateRoles: true }, admin.auth);
    const stranger = await newUser(t, { tag: "matrix-stranger" });
    const org = await t.client(OrganizationService).createOrganization({ name: "Foreign" }, stranger.auth);
    scene = { privileged, foreignOrgId: org.organization!.id };
  });
  afterAll(async () => t?.close());

  for (const c of CASES)
    for (const role of ROLES) {
      const allowed = c.allowed.includes(role);
      it(`${c.rpc} as ${role}: ${allowed ? "allowed" : "refused"}`, async () => {
        const target = await newUser(t, { tag: "matrix-target" });
        const result = await outcome(c.call(t, { ...scene, target }, callers.get(role)!.auth));
        if (allowed) expect(result).not.toMatch(/^PermissionDenied:/);
        else {
          const refusal = typeof c.refusal === "string" ? c.refusal : c.refusal?.[role];
          expect(result).toBe(`PermissionDenied:${refusal ?? "PERMISSION_REQUIRED"}`);
        }
      });
    }
});

describe("role changes reach another instance at the caller's next call (the invalidation bus)", () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await createTestApp();
    // A second server on the same database: its own caches, told of changes only by the bus.
    b = await createTestApp({}, { sameDatabaseAs: a });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const bCaughtUp = () => caughtUp(a, b);

  it("a rule change, a role taken away and a role given back each decide b's next call", async () => {
    const admin = await adminLogin(a);
    const reader = await newUser(a, { tag: "bus-reader" });
    const roles = a.client(RoleService);
    const users = a.client(UserService);
    await roles.createRole({ role: { name: "bus-reader", rules: [{ resources: ["audit_log"], verbs: ["list"], effect: Effect.ALLOW }] } }, admin.auth);
    await users.updateUser({ id: reader.userId, roles: ["bus-reader"], updateRoles: true }, admin.auth);
    const readOnB = () => outcome(b.client(AuditService).listAuditLogs({ pageSize: 1 }, reader.auth));
    // b now holds the session, its user and the role in its caches.
    expect(await readOnB()).toBe("OK");

    await roles.updateRole({ role: { name: "bus-reader", rules: [{ resources: ["audit_log"], verbs: ["list"], effect: Effect.DENY }] } }, admin.auth);
    await bCaughtUp();
    expect(await readOnB()).toBe("PermissionDenied:PERMISSION_REQUIRED");

    await roles.updateRole({ role: { name: "bus-reader", rules: [{ resources: ["audit_log"], verbs: ["list"], effect: Effect.ALLOW }] } }, admin.auth);
    await bCaughtUp();
    expect(await readOnB()).toBe("OK");

    await users.updateUser({ id: reader.userId, roles: [], updateRoles: true }, admin.auth);
    await bCaughtUp();
    expect(await readOnB()).toBe("PermissionDenied:PERMISSION_REQUIRED");

    await users.updateUser({ id: reader.userId, roles: ["bus-reader"], updateRoles: true }, admin.auth);
    await bCaughtUp();
    expect(await readOnB()).toBe("OK");
  });
});
