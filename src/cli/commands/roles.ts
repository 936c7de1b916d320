import { Effect, RoleSchema, RoleService, type Role } from "../../../gen/warden/rbac/v1/role_service_pb.js";
import type { CommandSpec } from "../command.js";
import { durationText, jsonOf, listText, timeText } from "../output.js";
import { allPages } from "../paging.js";

/** "env=prod|staging team=*"; "-" when the role reaches no node by label. */
function nodeLabelsText(role: Role): string {
  const entries = Object.entries(role.nodeLabels).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([k, v]) => `${k}=${v.values.join("|")}`).join(" ") : "-";
}

function sshPermissionsText(role: Role): string {
  const p = role.sshPermissions;
  if (!p) return "-";
  const names: [boolean, string][] = [
    [p.permitPty, "pty"],
    [p.permitPortForwarding, "port-forwarding"],
    [p.permitAgentForwarding, "agent-forwarding"],
    [p.permitX11Forwarding, "x11-forwarding"],
    [p.permitUserRc, "user-rc"],
  ];
  return listText(names.filter(([on]) => on).map(([, name]) => name));
}

const list: CommandSpec = {
  words: ["roles", "ls"],
  summary: "list RBAC roles",
  async run(ctx) {
    const session = await ctx.signedIn();
    const roles = session.client(RoleService);
    const all = await allPages(async (pageSize, pageToken) => {
      const r = await roles.listRoles({ pageSize, pageToken });
      return { items: r.roles, next: r.nextPageToken };
    });
    if (ctx.out.json) return ctx.out.data({ roles: all.map((r) => jsonOf(RoleSchema, r)) });
    ctx.out.table(
      ["NAME", "BUILTIN", "RULES", "LOGINS", "DESCRIPTION"],
      all.map((r) => [r.name, r.builtin ? "yes" : "no", String(r.rules.length), listText(r.logins), r.description || "-"]),
    );
  },
};

const get: CommandSpec = {
  words: ["roles", "get"],
  args: "NAME",
  argCount: 1,
  summary: "show one role: its rules and its SSH access",
  async run(ctx) {
    const session = await ctx.signedIn();
    const { role } = await session.client(RoleService).getRole({ name: ctx.args[0]! });
    if (ctx.out.json) return ctx.out.data(role ? jsonOf(RoleSchema, role) : null);
    if (!role) return;
    ctx.out.fields([
      ["Name", `${role.name}${role.builtin ? " (built in)" : ""}`],
      ["Description", role.description || "-"],
      ["Logins", listText(role.logins)],
      ["Node labels", nodeLabelsText(role)],
      ["Max certificate TTL", role.maxSessionTtl ? durationText(role.maxSessionTtl) : "(server default)"],
      ["SSH permissions", sshPermissionsText(role)],
      ["Updated", timeText(role.updateTime)],
    ]);
    ctx.out.line();
    ctx.out.table(
      ["EFFECT", "RESOURCES", "VERBS"],
      role.rules.map((r) => [r.effect === Effect.DENY ? "deny" : "allow", r.resources.join(","), r.verbs.join(",")]),
    );
  },
};

export const roleCommands = [list, get];
