import { CreateJoinTokenResponseSchema, JoinService, JoinTokenSchema, type JoinToken } from "../../../gen/warden/join/v1/join_service_pb.js";
import { countArg, durationArg, labelsArg, listValue, oneOf, stringValue } from "../args.js";
import type { CommandSpec } from "../command.js";
import { jsonOf, labelsText, listText, timeText } from "../output.js";
import { allPages } from "../paging.js";

const JOIN_ROLES = ["node", "proxy"] as const;

function state(t: JoinToken): string {
  return t.spent ? "spent" : "active";
}

const add: CommandSpec = {
  words: ["tokens", "add"],
  summary: "make a join token for nodes (its secret is shown once)",
  options: {
    uses: { type: "string", value: "N", help: "how many nodes it admits (default 1)" },
    ttl: { type: "string", value: "DURATION", help: "how long it is good for, e.g. 30m (default: the server's, 30m)" },
    label: { type: "string", multiple: true, value: "KEY=VALUE", help: "a label every node joining with it gets" },
    role: { type: "string", multiple: true, value: "node|proxy", help: "what a node joining with it becomes (default node)" },
  },
  async run(ctx) {
    const uses = stringValue(ctx, "uses");
    const ttl = stringValue(ctx, "ttl");
    const request = {
      uses: uses ? countArg("uses", uses) : 0,
      ttl: ttl ? durationArg("ttl", ttl) : undefined,
      labels: labelsArg("label", listValue(ctx, "label")),
      roles: listValue(ctx, "role").map((r) => oneOf("role", r, JOIN_ROLES)),
    };
    const session = await ctx.signedIn();
    const r = await session.client(JoinService).createJoinToken(request);
    if (ctx.out.json) return ctx.out.data(jsonOf(CreateJoinTokenResponseSchema, r));
    const t = r.joinToken!;
    ctx.out.line("Join token (shown only now; give it to the node, keep it secret):");
    ctx.out.line(`  ${r.token}`);
    ctx.out.line();
    ctx.out.fields([
      ["ID", t.id],
      ["Roles", listText(t.roles)],
      ["Uses", String(t.uses)],
      ["Expires", timeText(t.expireTime)],
      ["Labels", labelsText(t.labels)],
    ]);
  },
};

const list: CommandSpec = {
  words: ["tokens", "ls"],
  summary: "list join tokens (expired and used-up ones marked spent)",
  async run(ctx) {
    const session = await ctx.signedIn();
    const join = session.client(JoinService);
    const tokens = await allPages(async (pageSize, pageToken) => {
      const r = await join.listJoinTokens({ pageSize, pageToken });
      return { items: r.joinTokens, next: r.nextPageToken };
    });
    if (ctx.out.json) return ctx.out.data({ joinTokens: tokens.map((t) => jsonOf(JoinTokenSchema, t)) });
    ctx.out.table(
      ["ID", "ROLES", "USES LEFT", "EXPIRES", "STATE", "LABELS"],
      tokens.map((t) => [t.id, listText(t.roles), `${t.usesRemaining}/${t.uses}`, timeText(t.expireTime), state(t), labelsText(t.labels)]),
    );
  },
};

const remove: CommandSpec = {
  words: ["tokens", "rm"],
  args: "ID",
  argCount: 1,
  summary: "delete a join token: it admits no more nodes",
  async run(ctx) {
    const id = ctx.args[0]!;
    const session = await ctx.signedIn();
    await session.client(JoinService).deleteJoinToken({ id });
    if (ctx.out.json) ctx.out.data({ id, deleted: true });
    else ctx.out.line(`Deleted join token ${id}.`);
  },
};

export const tokenCommands = [add, list, remove];
