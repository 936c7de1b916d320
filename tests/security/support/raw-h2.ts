import { openRawSocket, sleep, type RawSocket } from "./raw-socket.js";

/**
 * HTTP/2 written by hand over a plain socket, for clients that break the rules a real client
 * library keeps (node's own client, for one, queues streams beyond the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS instead of sending them).
 */

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const H2_ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 11 } as const;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK integer with an n-bit prefix (RFC 7541, 5.1). */
function hpackInt(value: number, prefixBits: number, firstByte = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByte | value];
  const out = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** A header block of literals without indexing (no Huffman): simple, and valid for any name and value. */
export function headerBlock(headers: [string, string][]): Buffer {
  const bytes: number[] = [];
  for (const [name, value] of headers) {
    bytes.push(0x00);
    for (const s of [name, value]) {
      const b = Buffer.from(s, "latin1");
      bytes.push(...hpackInt(b.length, 7));
      for (const x of b) bytes.push(x);
    }
  }
  return Buffer.from(bytes);
}

/** HEADERS (and CONTINUATION frames when the block is over the default 16 KiB frame size) opening stream `id`. */
export function headersFrames(id: number, headers: [string, string][], endStream = false): Buffer {
  const block = headerBlock(headers);
  const MAX = 16_384;
  const frames: Buffer[] = [];
  for (let at = 0; at === 0 || at < block.length; at += MAX) {
    const last = at + MAX >= block.length;
    const flags = (last ? FLAG.END_HEADERS : 0) | (at === 0 && endStream ? FLAG.END_STREAM : 0);
    frames.push(frame(at === 0 ? FRAME.HEADERS : FRAME.CONTINUATION, flags, id, block.subarray(at, at + MAX)));
  }
  return Buffer.concat(frames);
}

/** The request headers of a POST to `path` on 127.0.0.1. */
export function postHeaders(path: string, contentType = "application/grpc", extra: [string, string][] = []): [string, string][] {
  return [[":method", "POST"], [":scheme", "http"], [":authority", "127.0.0.1"], [":path", path], ["content-type", contentType], ["te", "trailers"], ...extra];
}

export interface RawH2 {
  raw: RawSocket;
  frames: Frame[];
  /** RST_STREAM error codes by stream id. */
  resets: Map<number, number>;
  /** The first GOAWAY received, if any. */
  goaway(): { lastStreamId: number; code: number } | undefined;
  /** SETTINGS the server sent (id -> value), merged. */
  settings: Map<number, number>;
  /** Opens stream `id` (odd, increasing) with a HEADERS frame; END_STREAM only when `endStream`. */
  openStream(id: number, headers: [string, string][], endStream?: boolean): Promise<void>;
  send(bytes: Uint8Array): Promise<void>;
  /** Resolves once `predicate()` holds or the connection closed; false after timeoutMs. */
  waitUntil(predicate: () => boolean, timeoutMs: number): Promise<boolean>;
  close(): void;
}

/**
 * Connects, sends the preface and an empty SETTINGS, and acknowledges the server's SETTINGS
 * and PINGs as any client must; everything else the test does by hand.
 */
export async function openRawH2(port: number): Promise<RawH2> {
  const raw = await openRawSocket(port);
  const frames: Frame[] = [];
  const resets = new Map<number, number>();
  const settings = new Map<number, number>();
  let goaway: { lastStreamId: number; code: number } | undefined;
  let pending = Buffer.alloc(0);
  raw.socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      const f: Frame = { type: pending[3]!, flags: pending[4]!, streamId: pending.readUInt32BE(5) & 0x7fffffff, payload: pending.subarray(9, 9 + length) };
      pending = pending.subarray(9 + length);
      frames.push(f);
      if (f.type === FRAME.RST_STREAM) resets.set(f.streamId, f.payload.readUInt32BE(0));
      if (f.type === FRAME.GOAWAY && !goaway) goaway = { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
      if (f.type === FRAME.SETTINGS && !(f.flags & FLAG.ACK)) {
        for (let i = 0; i + 6 <= f.payload.length; i += 6) settings.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2));
        if (!raw.isClosed()) raw.socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
      }
      if (f.type === FRAME.PING && !(f.flags & FLAG.ACK) && !raw.isClosed()) raw.socket.write(frame(FRAME.PING, FLAG.ACK, 0, f.payload));
    }
  });
  await raw.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
  const h2: RawH2 = {
    raw,
    frames,
    resets,
    settings,
    goaway: () => goaway,
    openStream: (id, headers, endStream = false) => raw.write(headersFrames(id, headers, endStream)),
    send: (bytes) => raw.write(bytes),
    async waitUntil(predicate, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (predicate()) return true;
        if (raw.isClosed()) return predicate();
        await sleep(20);
      }
      return predicate();
    },
    close: () => raw.destroy(),
  };
  return h2;
}

/** SETTINGS identifiers (RFC 9113, 6.5.2). */
export const SETTING = { MAX_CONCURRENT_STREAMS: 0x3, MAX_HEADER_LIST_SIZE: 0x6 } as const;
