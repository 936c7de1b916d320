import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A decision: OPA's `result` for the input (anything JSON; undefined answers `{}` as OPA does for an undefined document). */
export type OpaRule = (input: any) => unknown;

export type OpaBehaviour =
  | { kind: "normal" }
  /** Answers after this many milliseconds. */
  | { kind: "slow"; ms: number }
  | { kind: "status"; status: number }
  /** 200 with a body that is not JSON. */
  | { kind: "malformed" }
  /** The connection is reset without an answer, as a crashed server's would be. */
  | { kind: "drop" };

export interface OpaServer {
  /** http://127.0.0.1:<port>, for the opa_url setting. */
  url: string;
  /** Decision path ("warden/authz/deny") -> rule; change freely between calls. */
  rules: Map<string, OpaRule>;
  behaviour: OpaBehaviour;
  /** Every request received: its path and its `input` document. */
  requests: { path: string; input: unknown }[];
  close(): Promise<void>;
}

/**
 * An OPA-Data-API-compatible server for tests: POST /v1/data/<path> with {"input": ...}
 * answers {"result": rule(input)} from a table, or {} for an unknown path; it can be told to
 * be slow, to fail with a status, to answer garbage, or to drop the connection.
 */
export async function startOpaServer(rules: Record<string, OpaRule> = {}): Promise<OpaServer> {
  const timers = new Set<NodeJS.Timeout>();
  const state: OpaServer = {
    url: "",
    rules: new Map(Object.entries(rules)),
    behaviour: { kind: "normal" },
    requests: [],
    close: async () => {},
  };

  const answer = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const match = /^\/v1\/data\/(.+)$/.exec(req.url ?? "");
    if (req.method !== "POST" || !match) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ code: "resource_not_found" }));
      return;
    }
    let input: unknown;
    try {
      input = (JSON.parse(body) as { input?: unknown }).input;
    } catch {
      res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ code: "invalid_parameter" }));
      return;
    }
    const path = decodeURIComponent(match[1]!);
    state.requests.push({ path, input });
    const b = state.behaviour;
    if (b.kind === "status") return void res.writeHead(b.status, { "content-type": "application/json" }).end(JSON.stringify({ code: "internal_error" }));
    if (b.kind === "drop") return void req.socket.destroy();
    if (b.kind === "malformed") return void res.writeHead(200, { "content-type": "application/json" }).end("{not json");
    const rule = state.rules.get(path);
    const result = rule ? rule(input) : undefined;
    const send = () => {
      if (!res.destroyed) res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(result === undefined ? {} : { result }));
    };
    if (b.kind === "slow") {
      const t = setTimeout(() => {
        timers.delete(t);
        send();
      }, b.ms);
      timers.add(t);
    } else send();
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => answer(req, res, Buffer.concat(chunks).toString("utf8")));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    for (const t of timers) clearTimeout(t);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
