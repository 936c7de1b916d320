import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface SmsHit {
  method: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** The reply was written. */
  answered: boolean;
  /** The client closed the request while the reply's planned delay was still running (it gave up). */
  abandoned: boolean;
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
  /** The hits so far, once each is answered or abandoned. */
  settled(): Promise<SmsHit[]>;
  reset(): void;
  close(): Promise<void>;
}

/** A real local HTTP endpoint standing in for an SMS provider's webhook. */
export async function startSmsEndpoint(): Promise<SmsEndpoint> {
  const hits: SmsHit[] = [];
  /** One per hit: resolves when the hit is answered or abandoned. */
  let settling: Promise<void>[] = [];
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
      const hit: SmsHit = { method: req.method ?? "", headers: req.headers, body, answered: false, abandoned: false };
      hits.push(hit);
      const reply = queue.shift() ?? { status: 200 };
      let settle!: () => void;
      settling.push(new Promise<void>((resolve) => (settle = resolve)));
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (res.destroyed) hit.abandoned = true;
        else {
          res.writeHead(reply.status, { "content-type": "application/json" }).end("{}");
          hit.answered = true;
        }
        settle();
      }, reply.delayMs ?? 0);
      timers.add(timer);
      // The client hung up while the reply was still due: it gave up on this request.
      res.on("close", () => {
        if (!timers.delete(timer)) return;
        clearTimeout(timer);
        hit.abandoned = true;
        settle();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/sms`,
    hits,
    plan: (...replies) => queue.push(...replies),
    settled: async () => {
      await Promise.all(settling);
      return hits;
    },
    reset() {
      hits.length = 0;
      settling = [];
      queue = [];
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
