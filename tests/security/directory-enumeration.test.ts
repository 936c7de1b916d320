import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import type { User } from "../../gen/warden/user/v1/user_pb.js";
import { expectError } from "../helpers/expect-error.js";
import { useTenancyWorld, type Caller, type IssuedKey, type Team } from "../helpers/tenancy-world.js";
import { ADMIN_EMAIL } from "../helpers/test-app.js";

/**
 * Attack: any signed-in principal (a self-registered account, any organization's read key) reads
 * any user by id or email, learning who has an account, who is an administrator and their roles.
 * Held: only the user and system readers see a whole user; members of a shared organization see
 * id, email and display name; machine credentials see the members of their own organization;
 * everyone else hears NOT_FOUND, exactly as for an address with no account.
 */
describe("directory enumeration", () => {
  const w = useTenancyWorld();
  let team: Team;
  let stranger: Caller;
  let admin: Caller;
  let adminId: string;
  let readKey: IssuedKey;

  beforeAll(async () => {
    team = await w.team("directory");
    stranger = await w.user("directory-stranger");
    admin = await w.admin();
    adminId = admin.id;
    readKey = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.READ]);
  });

  const byId = (id: string, as: Caller | IssuedKey) => w.users.getUser({ id }, as.as).then((r) => r.user!);
  const byEmail = (email: string, as: Caller | IssuedKey) => w.users.getUserByEmail({ email }, as.as).then((r) => r.user!);
  /** Asserts the user is shown as a contact: id, email and display name; the rest at its defaults. */
  const expectContact = (seen: User, u: Caller, displayName: string) => {
    expect(seen).toMatchObject({ id: u.id, email: u.email, displayName, admin: false, roles: [], disabled: false, emailVerified: false });
    expect(seen.createTime).toBeUndefined();
    expect(seen.updateTime).toBeUndefined();
  };

  it("tells a stranger nothing: another user, the administrator and an address with no account all answer USER_NOT_FOUND", async () => {
    // Each call made only when awaited: a refused one left waiting would be an unhandled rejection.
    for (const call of [
      () => byId(team.member.id, stranger),
      () => byEmail(team.member.email, stranger),
      () => byId(adminId, stranger),
      () => byEmail(ADMIN_EMAIL, stranger),
      () => byEmail("nobody-at-all@tenancy.test", stranger),
    ])
      await expectError(call(), Code.NotFound, "USER_NOT_FOUND");
  });

  it("shows a colleague id, email and display name only: no roles, no administrator flag, no status", async () => {
    expectContact(await byId(team.viewer.id, team.member), team.viewer, "directory-viewer");
    expectContact(await byEmail(team.owner.email, team.viewer), team.owner, "directory-owner");
  });

  it("shows users all of themselves, and system readers everyone", async () => {
    expect(await byId(stranger.id, stranger)).toMatchObject({ id: stranger.id, email: stranger.email, createTime: expect.anything() });
    const seenByAdmin = await byEmail(ADMIN_EMAIL, admin);
    expect(seenByAdmin).toMatchObject({ id: adminId, admin: true, roles: expect.arrayContaining(["admin"]) });
    expect(await byId(stranger.id, admin)).toMatchObject({ id: stranger.id, createTime: expect.anything() });
  });

  it("shows an organization's read key the members of its organization as contacts, and nobody else", async () => {
    expectContact(await byId(team.member.id, readKey), team.member, "directory-member");
    await expectError(byId(stranger.id, readKey), Code.NotFound, "USER_NOT_FOUND");
    await expectError(byEmail(ADMIN_EMAIL, readKey), Code.NotFound, "USER_NOT_FOUND");
  });

  it("forgets a colleague who left: after removal the member is a stranger again", async () => {
    const leaver = await w.user("directory-leaver");
    await w.join(team.id, team.owner, leaver, "member");
    expect(await byId(leaver.id, team.viewer)).toMatchObject({ id: leaver.id });
    await w.members.removeMember({ organizationId: team.id, userId: leaver.id }, team.owner.as);
    await expectError(byId(leaver.id, team.viewer), Code.NotFound, "USER_NOT_FOUND");
    await expectError(byId(team.viewer.id, leaver), Code.NotFound, "USER_NOT_FOUND");
  });
});
