import * as http2 from "node:http2";

/**
 * A deliberately thin Connect-protocol unary client over raw node:http2: binary protobuf
 * bodies encoded once by the caller, no interceptors, no per-call message objects. The load
 * generator shares the CPU with the server, so every microsecond spent here is one the
 * server does not get.
 */
export interface UnaryResult {
  status: number;
  body: Buffer;
}

export class H2Pool {
  private readonly sessions: http2.ClientHttp2Session[] = [];
  private next = 0;

  private constructor(private readonly origin: string) {}

  /** Opens `connections` HTTP/2 (h2c, prior knowledge) connections; calls are spread over them. */
  static async open(origin: string, connections: number): Promise<H2Pool> {
    const pool = new H2Pool(origin);
    for (let i = 0; i < connections; i++) pool.sessions.push(await connect(origin));
    return pool;
  }

  /** One Connect unary call: POST /<service>/<method>, application/proto. */
  unary(path: string, body: Uint8Array, headers?: Record<string, string>): Promise<UnaryResult> {
    const session = this.sessions[this.next++ % this.sessions.length]!;
    return new Promise<UnaryResult>((resolve, reject) => {
      const stream = session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/proto",
        "connect-protocol-version": "1",
        ...headers,
      });
      let status = 0;
      const chunks: Buffer[] = [];
      stream.on("response", (h) => (status = Number(h[":status"])));
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => resolve({ status, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) }));
      stream.on("error", reject);
      stream.end(body);
    });
  }

  close(): void {
    for (const s of this.sessions) s.close();
  }

  get target(): string {
    return this.origin;
  }
}

function connect(origin: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(origin, { peerMaxConcurrentStreams: 1000 });
    s.once("connect", () => {
      s.off("error", reject);
      s.on("error", () => {});
      resolve(s);
    });
    s.once("error", reject);
  });
}

/** A Connect error body is JSON {code, message, details}; returns "code: message" or a short dump. */
export function describeFailure(r: UnaryResult): string {
  try {
    const e = JSON.parse(r.body.toString("utf8")) as { code?: string; message?: string };
    return `HTTP ${r.status} ${e.code ?? "?"}: ${e.message ?? ""}`.trim();
  } catch {
    return `HTTP ${r.status} ${r.body.subarray(0, 120).toString("utf8")}`;
  }
}
