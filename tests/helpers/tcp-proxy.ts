import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy in front of a real server that a test can cut (as if the network went away) and
 * restore, or freeze (as if the peer hung: connections stay open, nothing comes back) and thaw.
 */
export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1); the same after restore(). */
  port: number;
  /** Connections open through the proxy now. */
  openConnections(): number;
  /** Destroys every proxied connection and refuses new ones (the port stops listening). */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  /**
   * Stops forwarding bytes both ways without closing anything: open connections stay open and new
   * ones are accepted, but nothing reaches the other side (a hung peer, not a refusing one).
   * What arrives meanwhile is held, and delivered by thaw().
   */
  freeze(): void;
  /** Forwards again, held bytes first. */
  thaw(): void;
  /** Whether the proxy is frozen now. */
  frozen(): boolean;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let isFrozen = false;
  const forward = ([client, upstream]: [Socket, Socket]) => {
    client.pipe(upstream);
    upstream.pipe(client);
  };
  // Unpiped and paused, a socket reads nothing more: bytes wait in its buffers and the kernel's.
  const hold = ([client, upstream]: [Socket, Socket]) => {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  };
  const onConnection = (client: Socket) => {
    const upstream = connect(targetPort, targetHost);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    if (isFrozen) hold(pair);
    else forward(pair);
  };

  let server: Server = createServer(onConnection);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve((server.address() as { port: number }).port);
      });
    });
  const stopListening = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  const destroyAll = () => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };

  const port = await listen(0);
  return {
    port,
    openConnections: () => pairs.size,
    async cut() {
      const closed = stopListening();
      destroyAll();
      await closed;
    },
    async restore() {
      if (server.listening) return;
      server = createServer(onConnection);
      await listen(port);
    },
    freeze() {
      if (isFrozen) return;
      isFrozen = true;
      for (const pair of pairs) hold(pair);
    },
    thaw() {
      if (!isFrozen) return;
      isFrozen = false;
      for (const pair of pairs) forward(pair);
    },
    frozen: () => isFrozen,
    async close() {
      const closed = stopListening();
      destroyAll();
      await closed;
    },
  };
}

/** The same postgres:// URL, reached through a proxy on 127.0.0.1. */
export function throughProxy(databaseUrl: string, proxy: TcpProxy): string {
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String(proxy.port);
  return url.toString();
}
