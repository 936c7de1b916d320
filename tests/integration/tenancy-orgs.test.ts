import { Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { MemberRole, OrganizationTier } from "../../gen/warden/org/v1/organization_pb.js";
import {
  buildScene,
  credentialsRefused,
  credentialStatus,
  CREDENTIALS_WORK,
  KEY_BY_ID_RPCS,
  ORG_SCOPED_RPCS,
  rpc,
  warmCredentials,
} from "../helpers/tenancy-rpcs.js";
import { queryRows } from "../helpers/database.js";
import { denied, expectError, outcome, violatedFields } from "../helpers/expect-error.js";
import { collectPages } from "../helpers/pages.js";
import { MEMBER_ROLE, useTenancyWorld, type Caller, type OrgRoleName } from "../helpers/tenancy-world.js";

const ORG_LIMIT = 2;

describe("organizations and membership", () => {
  const w = useTenancyWorld({ max_organizations_per_user: ORG_LIMIT });
  let sysadmin: Caller;
  beforeAll(async () => {
    sysadmin = await w.admin();
  });

  const listed = async (caller: Caller) => (await w.orgs.listOrganizations({ pageSize: 500 }, caller.as)).organizations;

  describe("CreateOrganization", () => {
    it("makes the creator the owner, defaults the tier to free and trims the name", async () => {
      const ann = await w.user("create-ann");
      const org = await w.org(ann, "  Acme Widgets  ");
      expect([org.name, org.tier, org.suspended, org.callerRole]).toEqual(["Acme Widgets", OrganizationTier.FREE, false, MemberRole.OWNER]);
      const members = await w.members.listMembers({ organizationId: org.id }, ann.as);
      expect(members.members.map((m) => [m.userId, m.email, m.role])).toEqual([[ann.id, ann.email, MemberRole.OWNER]]);
      const enterprise = await w.org(ann, "Big Co", OrganizationTier.ENTERPRISE);
      expect(enterprise.tier).toBe(OrganizationTier.ENTERPRISE);
      const got = await w.orgs.getOrganization({ id: enterprise.id }, ann.as);
      expect([got.organization?.name, got.organization?.tier]).toEqual(["Big Co", OrganizationTier.ENTERPRISE]);
    });

    it.for([
      ["empty", ""],
      ["blank", "   "],
      ["101 characters", "x".repeat(101)],
      ["a line break", "Acme\nAdmin"],
      ["a NUL", "Acme\u0000"],
    ])("refuses a name that is %s", async ([, name]) => {
      const bob = await w.user("create-bob");
      const err = await expectError(w.orgs.createOrganization({ name }, bob.as), Code.InvalidArgument);
      expect(violatedFields(err)).toEqual(["name"]);
    });

    it("accepts 100 characters of any script, refuses an unknown tier, and failures do not use the quota", async () => {
      const cy = await w.user("create-cy");
      await expectError(w.orgs.createOrganization({ name: "Tiered", tier: 99 as OrganizationTier }, cy.as), Code.InvalidArgument, "INVALID_ARGUMENT");
      const org = await w.org(cy, "ü".repeat(100));
      expect([...org.name]).toHaveLength(100);
      await expect(w.org(cy)).resolves.toBeDefined();
    });

    it("needs a signed-in user: no credential is UNAUTHENTICATED, an API key is refused", async () => {
      await expectError(w.orgs.createOrganization({ name: "Anon" }), Code.Unauthenticated);
      const dee = await w.user("create-dee");
      const org = await w.org(dee);
      const key = await w.apiKey(dee.as, org.id);
      await expectError(w.orgs.createOrganization({ name: "By key" }, key.as), Code.PermissionDenied, "USER_SESSION_REQUIRED");
    });
  });

  describe("per-user organization limit", () => {
    it(`allows ${ORG_LIMIT}, then RESOURCE_EXHAUSTED; a system admin is not limited`, async () => {
      const eve = await w.user("limit-eve");
      for (let i = 0; i < ORG_LIMIT; i++) await w.org(eve);
      await expectError(w.orgs.createOrganization({ name: "One too many" }, eve.as), Code.ResourceExhausted, "ORGANIZATION_LIMIT");
      for (let i = 0; i <= ORG_LIMIT; i++) await w.org(sysadmin);
    });

    it("holds under parallel creates: no more than the limit succeed", async () => {
      const fay = await w.user("limit-fay");
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => outcome(w.orgs.createOrganization({ name: `Race ${i}` }, fay.as))));
      expect(results.filter((r) => r === "OK")).toHaveLength(ORG_LIMIT);
      expect(results.filter((r) => r !== "OK")).toEqual(Array(6 - ORG_LIMIT).fill("ResourceExhausted:ORGANIZATION_LIMIT"));
      expect(await listed(fay)).toHaveLength(ORG_LIMIT);
    });
  });

  describe("Get, Update, List", () => {
    it("UpdateOrganization renames (validated), GetOrganization reports the caller's role", async () => {
      const team = await w.team("upd");
      const updated = await w.orgs.updateOrganization({ id: team.id, name: " Renamed " }, team.admin.as);
      expect(updated.organization?.name).toBe("Renamed");
      await expectError(w.orgs.updateOrganization({ id: team.id, name: "" }, team.owner.as), Code.InvalidArgument);
      for (const role of ["owner", "admin", "member", "viewer"] as const) {
        const got = (await w.orgs.getOrganization({ id: team.id }, team[role].as)).organization!;
        expect([got.name, got.callerRole]).toEqual(["Renamed", MEMBER_ROLE[role]]);
      }
    });

    it("ListOrganizations pages through the caller's organizations with the caller's role in each", async () => {
      const gus = await w.user("list-gus");
      const own = [await w.org(gus), await w.org(gus)];
      const hal = await w.user("list-hal");
      const joined = await w.org(hal);
      await w.join(joined.id, hal, gus, "viewer");
      const { items, pages } = await collectPages(
        async (pageToken) => {
          const r = await w.orgs.listOrganizations({ pageSize: 2, pageToken }, gus.as);
          return { items: r.organizations, nextPageToken: r.nextPageToken };
        },
        (o) => o.id,
        2,
      );
      expect(pages).toBe(2);
      expect(new Map(items.map((o) => [o.id, o.callerRole]))).toEqual(
        new Map([...own.map((o) => [o.id, MemberRole.OWNER] as const), [joined.id, MemberRole.VIEWER]]),
      );
      // A system admin sees every organization.
      const all = (await listed(sysadmin)).map((o) => o.id);
      expect(all).toEqual(expect.arrayContaining([...own, joined].map((o) => o.id)));
    });

    it("refuses a page token it did not issue", async () => {
      const gus = await w.user("list-gus");
      await expectError(w.orgs.listOrganizations({ pageToken: "bm90LWEtdG9rZW4" }, gus.as), Code.InvalidArgument);
      await expectError(w.orgs.listOrganizations({ pageSize: -1 }, gus.as), Code.InvalidArgument);
    });
  });

  describe("DeleteOrganization (soft)", () => {
    it("deactivates: members are refused, the org is no longer listed, its keys and service accounts stop at once", async () => {
      const scene = await buildScene(w, "del");
      const { team } = scene;
      const creds = await warmCredentials(w, team.owner, team.id);
      await w.orgs.deleteOrganization({ id: team.id }, team.owner.as);

      for (const role of ["owner", "admin", "member", "viewer"] as const) {
        expect(`${role} ${await outcome(rpc("GetOrganization").call(w, scene.target, team[role].as))}`).toBe(`${role} ${denied("ORGANIZATION_ROLE_REQUIRED")}`);
        expect((await listed(team[role])).map((o) => o.id)).not.toContain(team.id);
      }
      expect(await outcome(rpc("GetOrganization").call(w, scene.target, sysadmin.as))).toBe("NotFound:ORGANIZATION_NOT_FOUND");
      expect((await listed(sysadmin)).map((o) => o.id)).not.toContain(team.id);
      expect(await credentialStatus(w, creds)).toEqual(credentialsRefused("ORGANIZATION_DELETED"));
      // Nothing can bring it back or act on it.
      expect(await outcome(w.orgs.suspendOrganization({ id: team.id, suspended: false }, sysadmin.as))).toBe("NotFound:ORGANIZATION_NOT_FOUND");
      expect(await outcome(w.orgs.deleteOrganization({ id: team.id }, team.owner.as))).toBe(denied("ORGANIZATION_ROLE_REQUIRED"));
    });

    it("keeps the row (deleted_at set) and writes an audit event", async () => {
      const owner = await w.user("del-audit");
      const org = await w.org(owner);
      await w.orgs.deleteOrganization({ id: org.id }, owner.as);
      const rows = await queryRows(w.t.app.hooks.db, sql`select name, deleted_at from organizations where id = ${org.id}`);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.deleted_at).not.toBeNull();
      const audit = await queryRows(w.t.app.hooks.db, sql`select actor_id from audit_events where event_type = 'org.delete' and target_id = ${org.id}`);
      expect(audit.map((r) => r.actor_id)).toEqual([owner.id]);
    });
  });

  describe("SuspendOrganization", () => {
    it("is for system admins only; an admin-scope API key of the owner is refused too", async () => {
      const team = await w.team("susp-auth");
      const key = await w.apiKey(team.owner.as, team.id);
      for (const as of [team.owner.as, key.as])
        expect(await outcome(w.orgs.suspendOrganization({ id: team.id, suspended: true }, as))).toBe(denied("PERMISSION_REQUIRED"));
      expect((await w.orgs.getOrganization({ id: team.id }, team.owner.as)).organization?.suspended).toBe(false);
    });

    it("refuses every org-scoped call with ORGANIZATION_SUSPENDED and every credential at once; resuming restores them", async () => {
      const scene = await buildScene(w, "susp");
      const { team } = scene;
      const creds = await warmCredentials(w, team.owner, team.id);
      const suspended = await w.orgs.suspendOrganization({ id: team.id, suspended: true }, sysadmin.as);
      expect(suspended.organization?.suspended).toBe(true);

      // The key RPCs act on a key of the organization: the key's owner, an org admin and a system admin are refused alike.
      for (const [caller, rpcs] of [
        [team.owner, [...ORG_SCOPED_RPCS, ...KEY_BY_ID_RPCS]],
        [sysadmin, [...ORG_SCOPED_RPCS, ...KEY_BY_ID_RPCS]],
        [team.admin, KEY_BY_ID_RPCS],
      ] as const) {
        const outcomes = await Promise.all(rpcs.map(async (r) => `${r.name} ${await outcome(r.call(w, scene.target, caller.as))}`));
        expect(outcomes).toEqual(rpcs.map((r) => `${r.name} ${denied("ORGANIZATION_SUSPENDED")}`));
      }
      // No cache TTL to wait for: the credentials used a moment ago are refused now.
      expect(await credentialStatus(w, creds)).toEqual(credentialsRefused("ORGANIZATION_SUSPENDED"));
      // Members still see that it exists, marked suspended.
      expect((await listed(team.viewer)).find((o) => o.id === team.id)?.suspended).toBe(true);

      const resumed = await w.orgs.suspendOrganization({ id: team.id, suspended: false }, sysadmin.as);
      expect(resumed.organization?.suspended).toBe(false);
      expect(await credentialStatus(w, creds)).toEqual(CREDENTIALS_WORK);
      for (const r of ORG_SCOPED_RPCS.filter((x) => !x.mutates))
        expect(`${r.name} ${await outcome(r.call(w, scene.target, team.owner.as))}`).toBe(`${r.name} OK`);
    });

    it("of an unknown organization is NOT_FOUND, of a malformed id INVALID_ARGUMENT", async () => {
      const suspend = (id: string) => outcome(w.orgs.suspendOrganization({ id, suspended: true }, sysadmin.as));
      expect([await suspend(crypto.randomUUID()), await suspend("not-a-uuid"), await suspend("")]).toEqual([
        "NotFound:ORGANIZATION_NOT_FOUND",
        "InvalidArgument:INVALID_ARGUMENT",
        "InvalidArgument:INVALID_ARGUMENT",
      ]);
    });
  });

  describe("membership", () => {
    it("AddMember, UpdateMemberRole and RemoveMember change what the user may do on the next call", async () => {
      const team = await w.team("mem");
      const ivy = await w.user("mem-ivy");
      const read = () => outcome(w.orgs.getOrganization({ id: team.id }, ivy.as));
      const rename = () => outcome(w.orgs.updateOrganization({ id: team.id, name: w.name("ivy") }, ivy.as));
      expect([await read(), await rename()]).toEqual([denied("ORGANIZATION_ROLE_REQUIRED"), denied("ORGANIZATION_ROLE_REQUIRED")]);

      const added = await w.members.addMember({ organizationId: team.id, userId: ivy.id, role: MemberRole.VIEWER }, team.admin.as);
      expect([added.member?.userId, added.member?.email, added.member?.displayName, added.member?.role]).toEqual([
        ivy.id,
        ivy.email,
        "mem-ivy",
        MemberRole.VIEWER,
      ]);
      expect([await read(), await rename()]).toEqual(["OK", denied("ORGANIZATION_ROLE_REQUIRED")]);

      const promoted = await w.members.updateMemberRole({ organizationId: team.id, userId: ivy.id, role: MemberRole.ADMIN }, team.admin.as);
      expect(promoted.member?.role).toBe(MemberRole.ADMIN);
      expect([await read(), await rename()]).toEqual(["OK", "OK"]);

      await w.members.removeMember({ organizationId: team.id, userId: ivy.id }, team.admin.as);
      expect([await read(), await rename()]).toEqual([denied("ORGANIZATION_ROLE_REQUIRED"), denied("ORGANIZATION_ROLE_REQUIRED")]);
      expect((await w.memberRoles(team.id, team.owner.as)).has(ivy.id)).toBe(false);
    });

    it("answers bad requests with proper codes", async () => {
      const team = await w.team("mem");
      const add = (userId: string, role = MemberRole.MEMBER) => outcome(w.members.addMember({ organizationId: team.id, userId, role }, team.owner.as));
      expect(await add(team.viewer.id)).toBe("AlreadyExists:ALREADY_MEMBER");
      expect(await add(crypto.randomUUID())).toBe("NotFound:USER_NOT_FOUND");
      expect(await add("not-a-uuid")).toBe("InvalidArgument:INVALID_ARGUMENT");
      expect(await add(team.viewer.id, MemberRole.UNSPECIFIED)).toBe("InvalidArgument:INVALID_ARGUMENT");
      const stranger = await w.user("mem-stranger");
      for (const userId of [stranger.id, crypto.randomUUID()]) {
        expect(await outcome(w.members.removeMember({ organizationId: team.id, userId }, team.owner.as))).toBe("NotFound:MEMBER_NOT_FOUND");
        expect(await outcome(w.members.updateMemberRole({ organizationId: team.id, userId, role: MemberRole.VIEWER }, team.owner.as))).toBe(
          "NotFound:MEMBER_NOT_FOUND",
        );
      }
      expect(await outcome(w.members.removeMember({ organizationId: team.id, userId: "not-a-uuid" }, team.owner.as))).toBe("InvalidArgument:INVALID_ARGUMENT");
    });

    it("ListMembers pages without gaps or repeats", async () => {
      const team = await w.team("page");
      const extra = await Promise.all(Array.from({ length: 5 }, (_, i) => w.user(`page-extra-${i}`)));
      for (const user of extra) await w.join(team.id, team.owner, user, "member");
      const { ids, pages } = await collectPages(
        async (pageToken) => {
          const r = await w.members.listMembers({ organizationId: team.id, pageSize: 3, pageToken }, team.viewer.as);
          return { items: r.members, nextPageToken: r.nextPageToken };
        },
        (m) => m.userId,
        3,
      );
      expect(pages).toBe(3);
      expect(new Set(ids)).toEqual(new Set([team.owner, team.admin, team.member, team.viewer, ...extra].map((u) => u.id)));
      await expectError(w.members.listMembers({ organizationId: team.id, pageToken: "garbage!" }, team.viewer.as), Code.InvalidArgument);
    });

    describe("last-owner rule", () => {
      it("the last owner can be neither removed nor demoted, by anyone", async () => {
        const team = await w.team("last");
        for (const by of [team.owner, sysadmin]) {
          expect(await outcome(w.members.removeMember({ organizationId: team.id, userId: team.owner.id }, by.as))).toBe("FailedPrecondition:LAST_OWNER");
          for (const role of [MemberRole.ADMIN, MemberRole.VIEWER])
            expect(await outcome(w.members.updateMemberRole({ organizationId: team.id, userId: team.owner.id, role }, by.as))).toBe(
              "FailedPrecondition:LAST_OWNER",
            );
        }
        // With a second owner, the first may step down.
        await w.members.updateMemberRole({ organizationId: team.id, userId: team.admin.id, role: MemberRole.OWNER }, team.owner.as);
        await w.members.updateMemberRole({ organizationId: team.id, userId: team.owner.id, role: MemberRole.MEMBER }, team.owner.as);
        expect(await outcome(w.members.removeMember({ organizationId: team.id, userId: team.admin.id }, team.admin.as))).toBe("FailedPrecondition:LAST_OWNER");
      });

      it("a deleted account is no member and no owner: it is not listed and does not let the last live owner leave", async () => {
        const team = await w.team("ghost");
        await w.members.updateMemberRole({ organizationId: team.id, userId: team.admin.id, role: MemberRole.OWNER }, team.owner.as);
        // The second owner's account is deleted; the first is now the only live owner.
        await w.users.deleteUser({ id: team.admin.id }, sysadmin.as);
        const listed = await w.memberRoles(team.id, team.owner.as);
        expect(listed.has(team.admin.id)).toBe(false);
        expect([...listed.values()].filter((r) => r === MemberRole.OWNER)).toHaveLength(1);
        expect(await outcome(w.members.removeMember({ organizationId: team.id, userId: team.owner.id }, team.owner.as))).toBe("FailedPrecondition:LAST_OWNER");
        expect(await outcome(w.members.updateMemberRole({ organizationId: team.id, userId: team.owner.id, role: MemberRole.ADMIN }, sysadmin.as))).toBe(
          "FailedPrecondition:LAST_OWNER",
        );
        // Nor may the last live owner's account itself be deleted from under the organization.
        expect(await outcome(w.users.deleteUser({ id: team.owner.id }, sysadmin.as))).toBe("FailedPrecondition:LAST_OWNER");
        expect((await w.orgs.getOrganization({ id: team.id }, team.owner.as)).organization?.callerRole).toBe(MemberRole.OWNER);
      });

      type Change = (orgId: string, userId: string, by: Caller) => Promise<unknown>;
      it.for<[string, Change]>([
        ["demote", (organizationId, userId, by) => w.members.updateMemberRole({ organizationId, userId, role: MemberRole.ADMIN }, by.as)],
        ["remove", (organizationId, userId, by) => w.members.removeMember({ organizationId, userId }, by.as)],
      ])("two owners who %s each other in parallel leave at least one owner", async ([variant, change]) => {
        for (let round = 0; round < ORG_LIMIT; round++) {
          const team = await w.team(`duel-${variant}`);
          await w.members.updateMemberRole({ organizationId: team.id, userId: team.admin.id, role: MemberRole.OWNER }, team.owner.as);
          const pairs: [Caller, Caller][] = [
            [team.owner, team.admin],
            [team.admin, team.owner],
          ];
          const results = await Promise.all(pairs.map(([by, victim]) => outcome(change(team.id, victim.id, by))));
          expect(results.filter((r) => r === "OK")).toHaveLength(1);
          // The loser is refused by the rule, or already as no longer an owner (or no member).
          expect(["FailedPrecondition:LAST_OWNER", denied("OWNER_REQUIRED"), denied("ORGANIZATION_ROLE_REQUIRED")]).toContain(results.find((r) => r !== "OK"));
          const roles = await w.memberRoles(team.id, sysadmin.as);
          expect([...roles.values()].filter((r) => r === MemberRole.OWNER)).toHaveLength(1);
        }
      });
    });

    it("only owners (or system admins) grant, change or remove the owner role", async () => {
      const team = await w.team("own");
      const newcomer = await w.user("own-newcomer");
      const adminAs = team.admin.as;
      expect(await outcome(w.members.addMember({ organizationId: team.id, userId: newcomer.id, role: MemberRole.OWNER }, adminAs))).toBe(
        denied("OWNER_REQUIRED"),
      );
      expect(await outcome(w.members.updateMemberRole({ organizationId: team.id, userId: team.member.id, role: MemberRole.OWNER }, adminAs))).toBe(
        denied("OWNER_REQUIRED"),
      );
      expect(await outcome(w.members.updateMemberRole({ organizationId: team.id, userId: team.owner.id, role: MemberRole.MEMBER }, adminAs))).toBe(
        denied("OWNER_REQUIRED"),
      );
      expect(await outcome(w.members.removeMember({ organizationId: team.id, userId: team.owner.id }, adminAs))).toBe(denied("OWNER_REQUIRED"));
      // An owner's admin-scope key acts as an admin, never as an owner.
      const key = await w.apiKey(team.owner.as, team.id);
      expect(await outcome(w.members.updateMemberRole({ organizationId: team.id, userId: team.member.id, role: MemberRole.OWNER }, key.as))).toBe(
        denied("OWNER_REQUIRED"),
      );
      // Admins manage everyone below owner.
      expect(await outcome(w.members.updateMemberRole({ organizationId: team.id, userId: team.member.id, role: MemberRole.ADMIN }, adminAs))).toBe("OK");
      expect(await outcome(w.members.addMember({ organizationId: team.id, userId: newcomer.id, role: MemberRole.VIEWER }, adminAs))).toBe("OK");
      // Owners and system admins may make owners.
      await w.members.updateMemberRole({ organizationId: team.id, userId: team.member.id, role: MemberRole.OWNER }, team.owner.as);
      await w.members.updateMemberRole({ organizationId: team.id, userId: newcomer.id, role: MemberRole.OWNER }, sysadmin.as);
      const roles = await w.memberRoles(team.id, team.owner.as);
      expect([roles.get(team.member.id), roles.get(newcomer.id), roles.get(team.owner.id)]).toEqual([MemberRole.OWNER, MemberRole.OWNER, MemberRole.OWNER]);
    });

    it("a user in many organizations has each organization's role there and nowhere else", async () => {
      const pat = await w.user("many-pat");
      const roles: OrgRoleName[] = ["owner", "admin", "member", "viewer", "admin"];
      const orgs = [];
      for (const [i, role] of roles.entries()) {
        const owner = await w.user(`many-owner-${i}`);
        const org = await w.org(owner);
        await w.join(org.id, owner, pat, role);
        orgs.push(org);
      }
      const seen = new Map((await listed(pat)).map((o) => [o.id, o.callerRole]));
      expect(seen).toEqual(new Map(orgs.map((o, i) => [o.id, MEMBER_ROLE[roles[i]!]])));
      const renames = await Promise.all(orgs.map((o) => outcome(w.orgs.updateOrganization({ id: o.id, name: "By Pat" }, pat.as))));
      expect(renames).toEqual(roles.map((r) => (r === "owner" || r === "admin" ? "OK" : denied("ORGANIZATION_ROLE_REQUIRED"))));
      const reads = await Promise.all(orgs.map((o) => outcome(w.members.listMembers({ organizationId: o.id }, pat.as))));
      expect(reads).toEqual(roles.map(() => "OK"));
    });
  });
});
