import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface SmsHit {
  method: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** How the endpoint answers one request: a status, after an optional delay. */
export interface Reply {
  status: number;
  delayMs?: number;
}

export interface SmsEndpoint {
  url: string;
  hits: SmsHit[];
  /** Replies for the next requests, in order; afterwards every request gets 200. */
  plan(...replies: Reply[]): void;
  reset(): void;
  close(): Promise<void>;
}

/** A real local HTTP endpoint standing in for an SMS provider's webhook. */
export async function startSmsEndpoint(): Promise<SmsEndpoint> {
  const hits: SmsHit[] = [];
  let queue: Reply[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* kept as text */
      }
      hits.push({ method: req.method ?? "", headers: req.headers, body });
      const reply = queue.shift() ?? { status: 200 };
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!res.destroyed) res.writeHead(reply.status, { "content-type": "application/json" }).end("{}");
      }, reply.delayMs ?? 0);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/sms`,
    hits,
    plan: (...replies) => queue.push(...replies),
    reset() {
      hits.length = 0;
      queue = [];
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
