import { UserSchema, type User } from "../../../gen/warden/user/v1/user_pb.js";
import { UserService } from "../../../gen/warden/user/v1/user_service_pb.js";
import { stringValue } from "../args.js";
import type { CommandSpec } from "../command.js";
import { jsonOf, listText, timeText } from "../output.js";
import { allPages } from "../paging.js";

const yesNo = (b: boolean) => (b ? "yes" : "no");

const list: CommandSpec = {
  words: ["users", "ls"],
  summary: "list users (administrators)",
  options: { "email-prefix": { type: "string", value: "PREFIX", help: "only users whose email starts so" } },
  async run(ctx) {
    const emailPrefix = stringValue(ctx, "email-prefix") ?? "";
    const session = await ctx.signedIn();
    const users = session.client(UserService);
    const all = await allPages(async (pageSize, pageToken) => {
      const r = await users.listUsers({ pageSize, pageToken, emailPrefix });
      return { items: r.users, next: r.nextPageToken };
    });
    if (ctx.out.json) return ctx.out.data({ users: all.map((u) => jsonOf(UserSchema, u)) });
    ctx.out.table(
      ["EMAIL", "ID", "NAME", "ROLES", "ADMIN", "DISABLED"],
      all.map((u) => [u.email, u.id, u.displayName || "-", listText(u.roles), yesNo(u.admin), yesNo(u.disabled)]),
    );
  },
};

const get: CommandSpec = {
  words: ["users", "get"],
  args: "ID|EMAIL",
  argCount: 1,
  summary: "show one user, by id or email",
  async run(ctx) {
    const key = ctx.args[0]!;
    const session = await ctx.signedIn();
    const users = session.client(UserService);
    const user: User | undefined = key.includes("@") ? (await users.getUserByEmail({ email: key })).user : (await users.getUser({ id: key })).user;
    if (ctx.out.json) return ctx.out.data(user ? jsonOf(UserSchema, user) : null);
    if (!user) return;
    ctx.out.fields([
      ["ID", user.id],
      ["Email", `${user.email}${user.emailVerified ? " (verified)" : ""}`],
      ["Name", user.displayName || "-"],
      ["Login alias", user.loginAlias || "-"],
      ["Roles", listText(user.roles)],
      ["Admin", yesNo(user.admin)],
      ["Disabled", yesNo(user.disabled)],
      ["Created", timeText(user.createTime)],
      ["Updated", timeText(user.updateTime)],
    ]);
  },
};

export const userCommands = [list, get];
