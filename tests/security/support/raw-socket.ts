import { connect, type Socket } from "node:net";

/** A plain TCP connection that records what the server does to it: the bytes it sends, and whether it closed. */
export interface RawSocket {
  socket: Socket;
  /** Everything received so far, as latin1 text. */
  received(): string;
  /** True once the connection has closed (by either side). */
  isClosed(): boolean;
  /** True when the server ended or reset the connection (not this side). */
  closedByServer(): boolean;
  write(data: string | Uint8Array): Promise<void>;
  /** Resolves true when the connection closes within timeoutMs, false otherwise. */
  waitClosed(timeoutMs: number): Promise<boolean>;
  /** Resolves true once `predicate(received())` holds within timeoutMs. */
  waitFor(predicate: (text: string) => boolean, timeoutMs: number): Promise<boolean>;
  destroy(): void;
}

/** Connects to 127.0.0.1:port; resolves once the TCP handshake completed. */
export function openRawSocket(port: number): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let closed = false;
    let byServer = false;
    let destroyedHere = false;
    const closedPromise = new Promise<void>((done) =>
      socket.once("close", () => {
        closed = true;
        byServer = !destroyedHere;
        done();
      }),
    );
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", () => {});
    socket.once("connect", () => {
      socket.off("error", reject);
      const raw: RawSocket = {
        socket,
        received: () => Buffer.concat(chunks).toString("latin1"),
        isClosed: () => closed,
        closedByServer: () => closed && byServer,
        write: (data) => new Promise((done, fail) => socket.write(data, (err) => (err ? fail(err) : done()))),
        waitClosed: (timeoutMs) =>
          within(
            closedPromise.then(() => true),
            timeoutMs,
            false,
          ),
        waitFor: async (predicate, timeoutMs) => {
          const deadline = Date.now() + timeoutMs;
          while (Date.now() < deadline) {
            if (predicate(raw.received())) return true;
            if (closed) return predicate(raw.received());
            await sleep(20);
          }
          return predicate(raw.received());
        },
        destroy: () => {
          if (!closed) destroyedHere = true;
          socket.destroy();
        },
      };
      resolve(raw);
    });
    socket.once("error", reject);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The promise's value, or `fallback` when it has not settled within ms. */
export function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<T>((r) => (timer = setTimeout(() => r(fallback), ms)))]).finally(() => clearTimeout(timer));
}
