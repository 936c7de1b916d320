import { AgentIdentitySchema, AgentService, CreateAgentIdentityResponseSchema } from "../../../gen/warden/agent/v1/agent_service_pb.js";
import { durationArg, listValue, stringValue } from "../args.js";
import type { CommandSpec } from "../command.js";
import { UsageError } from "../errors.js";
import { durationText, jsonOf, listText, timeText } from "../output.js";
import { allPages } from "../paging.js";

const add: CommandSpec = {
  words: ["agent-identities", "add"],
  args: "NAME",
  argCount: 1,
  summary: "make a machine identity (a bot) with roles; its bootstrap token is shown once",
  options: {
    role: { type: "string", multiple: true, value: "ROLE", help: "a role of the identity (at least one)" },
    ttl: { type: "string", value: "DURATION", help: "validity of its certificates, e.g. 1h (default: the server's)" },
    "bootstrap-ttl": { type: "string", value: "DURATION", help: "how long the bootstrap token is good for (default: the server's)" },
  },
  async run(ctx) {
    const roles = listValue(ctx, "role");
    if (roles.length === 0) throw new UsageError("at least one --role is needed");
    const ttl = stringValue(ctx, "ttl");
    const bootstrapTtl = stringValue(ctx, "bootstrap-ttl");
    const request = {
      name: ctx.args[0]!,
      roles,
      certTtl: ttl ? durationArg("ttl", ttl) : undefined,
      bootstrapTtl: bootstrapTtl ? durationArg("bootstrap-ttl", bootstrapTtl) : undefined,
    };
    const session = await ctx.signedIn();
    const r = await session.client(AgentService).createAgentIdentity(request);
    if (ctx.out.json) return ctx.out.data(jsonOf(CreateAgentIdentityResponseSchema, r));
    const identity = r.agentIdentity!;
    ctx.out.line("Bootstrap token (shown only now; give it to the machine, keep it secret):");
    ctx.out.line(`  ${r.bootstrapToken}`);
    ctx.out.line();
    ctx.out.fields([
      ["ID", identity.id],
      ["Name", identity.name],
      ["Roles", listText(identity.roles)],
      ["Certificate TTL", durationText(identity.certTtl)],
      ["Bootstrap by", timeText(identity.bootstrapExpireTime)],
    ]);
  },
};

const list: CommandSpec = {
  words: ["agent-identities", "ls"],
  summary: "list machine identities",
  async run(ctx) {
    const session = await ctx.signedIn();
    const agents = session.client(AgentService);
    const identities = await allPages(async (pageSize, pageToken) => {
      const r = await agents.listAgentIdentities({ pageSize, pageToken });
      return { items: r.agentIdentities, next: r.nextPageToken };
    });
    if (ctx.out.json) return ctx.out.data({ agentIdentities: identities.map((i) => jsonOf(AgentIdentitySchema, i)) });
    ctx.out.table(
      ["NAME", "ID", "ROLES", "STATE", "RENEWALS", "CERT TTL", "CREATED"],
      identities.map((i) => [
        i.name,
        i.id,
        listText(i.roles),
        i.locked ? `locked (${i.lockReason || "-"})` : i.bootstrapped ? "active" : "awaiting bootstrap",
        String(i.generation),
        durationText(i.certTtl),
        timeText(i.createTime),
      ]),
    );
  },
};

const remove: CommandSpec = {
  words: ["agent-identities", "rm"],
  args: "ID",
  argCount: 1,
  summary: "delete a machine identity: its tokens stop working",
  async run(ctx) {
    const id = ctx.args[0]!;
    const session = await ctx.signedIn();
    await session.client(AgentService).deleteAgentIdentity({ id });
    if (ctx.out.json) ctx.out.data({ id, deleted: true });
    else ctx.out.line(`Deleted agent identity ${id}.`);
  },
};

export const agentIdentityCommands = [add, list, remove];
