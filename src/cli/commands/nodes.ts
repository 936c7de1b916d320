import { AgentService, NodeSchema } from "../../../gen/warden/agent/v1/agent_service_pb.js";
import { flagValue, stringValue } from "../args.js";
import type { CommandSpec } from "../command.js";
import { UsageError } from "../errors.js";
import { jsonOf, labelsText, listText, timeText } from "../output.js";
import { allPages } from "../paging.js";

const list: CommandSpec = {
  words: ["nodes", "ls"],
  summary: "list the nodes you may reach",
  options: {
    selector: { type: "string", value: "SELECTOR", help: 'only nodes whose labels match, e.g. "env=prod,team!=db"' },
    online: { type: "boolean", help: "only nodes whose agent sent a heartbeat lately" },
    offline: { type: "boolean", help: "only nodes whose agent went quiet" },
  },
  async run(ctx) {
    const online = flagValue(ctx, "online");
    const offline = flagValue(ctx, "offline");
    if (online && offline) throw new UsageError("--online and --offline exclude each other");
    const labelSelector = stringValue(ctx, "selector") ?? "";
    const session = await ctx.signedIn();
    const agents = session.client(AgentService);
    const nodes = await allPages(async (pageSize, pageToken) => {
      const r = await agents.listNodes({ labelSelector, online: online || offline ? online : undefined, pageSize, pageToken });
      return { items: r.nodes, next: r.nextPageToken };
    });
    if (ctx.out.json) return ctx.out.data({ nodes: nodes.map((n) => jsonOf(NodeSchema, n)) });
    ctx.out.table(
      ["HOSTNAME", "ID", "STATUS", "ADDRESSES", "LABELS", "LAST HEARTBEAT", "VERSION"],
      nodes.map((n) => [
        n.hostname,
        n.id,
        n.online ? "online" : "offline",
        listText(n.addresses),
        labelsText(n.labels),
        timeText(n.lastHeartbeatTime),
        n.version || "-",
      ]),
    );
  },
};

export const nodeCommands = [list];
