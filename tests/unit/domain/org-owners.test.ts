import { beforeEach, describe, expect, it } from "vitest";
import { DomainError } from "../../../src/domain/errors.js";
import type { MemberRole } from "../../../src/domain/org/member-role.js";
import type { OrgGrant } from "../../../src/domain/org/org-access.js";
import type { Principal } from "../../../src/domain/principal.js";
import type { UserRow } from "../../../src/domain/records.js";
import { meta, newUser, userPrincipal } from "./fakes/actors.js";
import { expectDomainError } from "./fakes/domain-error.js";
import { createWorld, type World } from "./fakes/world.js";

describe("an organization keeps a live owner", () => {
  let w: World;
  let founder: UserRow;
  let orgId: string;

  /** The grant OrgAccess gives the caller (as the handlers get it before calling Organizations). */
  const grantOf = (caller: Principal, needed: MemberRole = "viewer"): Promise<OrgGrant> => w.orgAccess.require(caller, orgId, needed);
  const roleOf = async (user: UserRow) => (await w.store.orgs.membership(orgId, user.id))?.role;
  const add = async (user: UserRow, role: MemberRole) => {
    const caller = userPrincipal(founder);
    await w.organizations.addMember(caller, await grantOf(caller), user.id, role, meta);
  };
  const remove = async (caller: UserRow, target: UserRow) => {
    const p = userPrincipal(caller);
    return w.organizations.removeMember(p, await grantOf(p), target.id, meta);
  };
  const setRole = async (caller: UserRow, target: UserRow, role: MemberRole) => {
    const p = userPrincipal(caller);
    return w.organizations.updateMemberRole(p, await grantOf(p), target.id, role, meta);
  };

  beforeEach(async () => {
    w = await createWorld();
    founder = await newUser(w, "founder");
    orgId = (await w.organizations.create(userPrincipal(founder), "Acme", "free", meta)).id;
  });

  it("makes the creator the owner", async () => {
    expect(await roleOf(founder)).toBe("owner");
    expect(await w.store.orgs.lockOwners(orgId)).toEqual([founder.id]);
  });

  it("refuses to remove the last owner, even at their own request (LAST_OWNER), and changes nothing", async () => {
    await expectDomainError(remove(founder, founder), "failed_precondition", "LAST_OWNER");
    expect(await roleOf(founder)).toBe("owner");
    expect(w.store.audited("org.member_remove")).toEqual([]);
  });

  it("refuses to demote the last owner (LAST_OWNER)", async () => {
    await expectDomainError(setRole(founder, founder, "admin"), "failed_precondition", "LAST_OWNER");
    expect(await roleOf(founder)).toBe("owner");
    expect(w.store.audited("org.member_role")).toEqual([]);
  });

  it("refuses a caller with system access too: the rule is the organization's, not the caller's", async () => {
    const operator = userPrincipal(await newUser(w, "operator"), { systemAccess: true });
    const grant = await w.orgAccess.require(operator, orgId, "owner");
    expect(grant.role).toBeUndefined(); // not a member: acting by system access
    await expectDomainError(w.organizations.removeMember(operator, grant, founder.id, meta), "failed_precondition", "LAST_OWNER");
    await expectDomainError(w.organizations.updateMemberRole(operator, grant, founder.id, "member", meta), "failed_precondition", "LAST_OWNER");
  });

  it("lets one of two owners leave, and then holds on to the other", async () => {
    const second = await newUser(w, "second");
    await add(second, "owner");

    await remove(founder, founder);
    expect(await roleOf(founder)).toBeUndefined();
    expect(w.store.audited("org.member_remove")).toEqual([
      expect.objectContaining({ targetId: founder.id, details: { organization_id: orgId, role: "owner" } }),
    ]);

    await expectDomainError(remove(second, second), "failed_precondition", "LAST_OWNER");
    await expectDomainError(setRole(second, second, "viewer"), "failed_precondition", "LAST_OWNER");
  });

  it("lets one of two owners be demoted", async () => {
    const second = await newUser(w, "second");
    await add(second, "owner");
    await setRole(second, founder, "member");
    expect(await roleOf(founder)).toBe("member");
  });

  it("does not count a soft-deleted user who still has an owner row: the last live owner cannot leave", async () => {
    const gone = await newUser(w, "gone");
    await add(gone, "owner");
    // A deleted account keeps its membership rows (UserAdmin.delete soft-deletes the user only).
    await w.store.users.softDelete(gone.id, w.clock.now());
    expect(w.store.tables.memberships.get(`${orgId}|${gone.id}`)?.role).toBe("owner");

    await expectDomainError(remove(founder, founder), "failed_precondition", "LAST_OWNER");
    await expectDomainError(setRole(founder, founder, "admin"), "failed_precondition", "LAST_OWNER");
    expect(await roleOf(founder)).toBe("owner");
    // And the deleted owner's row itself may go: the live owner remains.
    await remove(founder, gone);
    expect(await roleOf(gone)).toBeUndefined();
  });
});

describe("only owners make and unmake owners", () => {
  let w: World;
  let owner: UserRow;
  let admin: UserRow;
  let member: UserRow;
  let orgId: string;

  const act = async (caller: UserRow | ReturnType<typeof userPrincipal>) => {
    const p = "kind" in caller ? caller : userPrincipal(caller);
    return { p, grant: await w.orgAccess.require(p, orgId, "admin") };
  };

  beforeEach(async () => {
    w = await createWorld();
    [owner, admin, member] = [await newUser(w, "owner"), await newUser(w, "admin"), await newUser(w, "member")];
    const o = userPrincipal(owner);
    orgId = (await w.organizations.create(o, "Acme", "free", meta)).id;
    const grant = await w.orgAccess.require(o, orgId, "owner");
    await w.organizations.addMember(o, grant, admin.id, "admin", meta);
    await w.organizations.addMember(o, grant, member.id, "member", meta);
  });

  it("refuses an admin who grants, changes or removes the owner role (OWNER_REQUIRED)", async () => {
    const { p, grant } = await act(admin);
    const outsider = await newUser(w, "outsider");

    await expectDomainError(w.organizations.addMember(p, grant, outsider.id, "owner", meta), "permission_denied", "OWNER_REQUIRED");
    await expectDomainError(w.organizations.updateMemberRole(p, grant, member.id, "owner", meta), "permission_denied", "OWNER_REQUIRED");
    await expectDomainError(w.organizations.updateMemberRole(p, grant, owner.id, "admin", meta), "permission_denied", "OWNER_REQUIRED");
    await expectDomainError(w.organizations.removeMember(p, grant, owner.id, meta), "permission_denied", "OWNER_REQUIRED");

    expect(await w.store.orgs.membership(orgId, outsider.id)).toBeUndefined();
    expect(await w.store.orgs.lockOwners(orgId)).toEqual([owner.id]);
    // The refusal is about the owner role only: the admin manages other roles.
    await w.organizations.updateMemberRole(p, grant, member.id, "admin", meta);
    expect((await w.store.orgs.membership(orgId, member.id))?.role).toBe("admin");
  });

  it("lets an owner grant the owner role", async () => {
    const { p, grant } = await act(owner);
    await w.organizations.updateMemberRole(p, grant, member.id, "owner", meta);
    expect(await w.store.orgs.lockOwners(orgId)).toEqual(expect.arrayContaining([owner.id, member.id]));
  });

  it("lets a caller with system access grant the owner role without being a member", async () => {
    const operator = await newUser(w, "operator");
    const { p, grant } = await act(userPrincipal(operator, { systemAccess: true }));
    const outsider = await newUser(w, "outsider");
    await w.organizations.addMember(p, grant, outsider.id, "owner", meta);
    expect((await w.store.orgs.membership(orgId, outsider.id))?.role).toBe("owner");
  });
});

describe("an organization keeps a live owner under concurrent changes", () => {
  let w: World;
  let a: UserRow;
  let b: UserRow;
  let orgId: string;
  const outcomes = (results: PromiseSettledResult<unknown>[]) =>
    results.map((r) => (r.status === "fulfilled" ? "ok" : r.reason instanceof DomainError ? r.reason.reason : String(r.reason))).sort();
  const self = async (user: UserRow) => {
    const p = userPrincipal(user);
    return { p, grant: await w.orgAccess.require(p, orgId, "owner") };
  };

  // Two owners; every change below would leave the organization without one if both succeeded.
  beforeEach(async () => {
    w = await createWorld();
    [a, b] = [await newUser(w, "a"), await newUser(w, "b")];
    const p = userPrincipal(a);
    orgId = (await w.organizations.create(p, "Acme", "free", meta)).id;
    await w.organizations.addMember(p, await w.orgAccess.require(p, orgId, "owner"), b.id, "owner", meta);
  });

  it("lets only one of two owners leave when both try at once (the organization row lock orders them)", async () => {
    const [sa, sb] = [await self(a), await self(b)];
    const results = await Promise.allSettled([
      w.organizations.removeMember(sa.p, sa.grant, a.id, meta),
      w.organizations.removeMember(sb.p, sb.grant, b.id, meta),
    ]);
    expect(outcomes(results)).toEqual(["LAST_OWNER", "ok"]);
    expect(await w.store.orgs.lockOwners(orgId)).toHaveLength(1);
  });

  it("lets only one of two owners step down when both try at once", async () => {
    const [sa, sb] = [await self(a), await self(b)];
    const results = await Promise.allSettled([
      w.organizations.updateMemberRole(sa.p, sa.grant, a.id, "admin", meta),
      w.organizations.updateMemberRole(sb.p, sb.grant, b.id, "admin", meta),
    ]);
    expect(outcomes(results)).toEqual(["LAST_OWNER", "ok"]);
  });

  it("refuses to delete the account of the last live owner (LAST_OWNER)", async () => {
    const operator = userPrincipal(await newUser(w, "operator"), { systemAccess: true });
    await w.users.delete(operator, a.id, meta);
    await expectDomainError(w.users.delete(operator, b.id, meta), "failed_precondition", "LAST_OWNER");
  });

  // Each deletion locks the organizations its user owns before it counts their live owners, as
  // membership changes do: run together, one of the two sees the other's deletion and is refused.
  it("refuses one of two owners' account deletions that run at once", async () => {
    const operator = userPrincipal(await newUser(w, "operator"), { systemAccess: true });
    const results = await Promise.allSettled([w.users.delete(operator, a.id, meta), w.users.delete(operator, b.id, meta)]);
    expect(outcomes(results)).toEqual(["LAST_OWNER", "ok"]);
    expect(await w.store.orgs.lockOwners(orgId)).toHaveLength(1);
  });
});
