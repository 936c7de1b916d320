/**
 * The SSH wire encoding of RFC 4251 section 5: byte, boolean, uint32, uint64, string, mpint.
 * The reader is strict (no truncation, no non-minimal mpint) because every caller decodes
 * bytes that somebody else chose.
 */

export class SshWireError extends Error {
  override name = "SshWireError";
}

const UINT32_MAX = 0xffff_ffff;
const UINT64_MAX = (1n << 64n) - 1n;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Appends fields in order; `bytes()` returns the concatenation. */
export class SshWireWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  byte(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new SshWireError(`byte out of range: ${value}`);
    return this.raw(Uint8Array.of(value));
  }

  boolean(value: boolean): this {
    return this.byte(value ? 1 : 0);
  }

  uint32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) throw new SshWireError(`uint32 out of range: ${value}`);
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, value);
    return this.raw(out);
  }

  uint64(value: bigint): this {
    if (value < 0n || value > UINT64_MAX) throw new SshWireError(`uint64 out of range: ${value}`);
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, value);
    return this.raw(out);
  }

  /** A uint32 length, then the bytes. */
  string(value: Uint8Array): this {
    return this.uint32(value.length).raw(value);
  }

  /** A string holding the UTF-8 encoding of `text`. */
  utf8(text: string): this {
    return this.string(utf8.encode(text));
  }

  /** Two's complement, big-endian, minimal length; zero is the empty string. */
  mpint(value: bigint): this {
    return this.string(mpintBytes(value));
  }

  /** Bytes that are already wire-encoded (a nested blob's fields), copied as they are. */
  raw(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

/** Reads fields in order from one buffer; `end()` refuses anything left over. */
export class SshWireReader {
  private at = 0;

  constructor(private readonly buffer: Uint8Array) {}

  /** How far the reader has got: lets a caller slice out the bytes a signature covers. */
  get offset(): number {
    return this.at;
  }

  get remaining(): number {
    return this.buffer.length - this.at;
  }

  byte(): number {
    return this.take(1, "byte")[0];
  }

  /** RFC 4251: any non-zero value is true. */
  boolean(): boolean {
    return this.byte() !== 0;
  }

  uint32(): number {
    const b = this.take(4, "uint32");
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }

  uint64(): bigint {
    const b = this.take(8, "uint64");
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
  }

  string(): Uint8Array {
    const length = this.uint32();
    return this.take(length, "string").slice();
  }

  utf8(): string {
    try {
      return strictUtf8.decode(this.string());
    } catch (e) {
      if (e instanceof SshWireError) throw e;
      throw new SshWireError("string is not valid UTF-8");
    }
  }

  mpint(): bigint {
    return mpintValue(this.string());
  }

  /** Throws unless every byte has been read: trailing data hides in nothing we accept. */
  end(what: string): void {
    if (this.remaining !== 0) throw new SshWireError(`${this.remaining} trailing byte(s) after ${what}`);
  }

  private take(count: number, what: string): Uint8Array {
    if (count > this.remaining) throw new SshWireError(`truncated ${what}: needs ${count} byte(s), ${this.remaining} left`);
    const out = this.buffer.subarray(this.at, this.at + count);
    this.at += count;
    return out;
  }
}

/** Unsigned big-endian bytes of a non-negative integer, without leading zeros (zero is empty). */
export function unsignedBytes(value: bigint): Uint8Array {
  if (value < 0n) throw new SshWireError("negative value has no unsigned encoding");
  const hex = value === 0n ? "" : value.toString(16);
  return Uint8Array.from(Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex"));
}

/** The integer that unsigned big-endian bytes stand for. */
export function unsignedValue(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
}

function mpintBytes(value: bigint): Uint8Array {
  if (value === 0n) return new Uint8Array(0);
  if (value > 0n) {
    const magnitude = unsignedBytes(value);
    // A set high bit would read back as negative: a leading zero byte keeps it positive.
    return magnitude[0] & 0x80 ? Uint8Array.of(0, ...magnitude) : magnitude;
  }
  // Negative: the shortest width whose two's complement still has the sign bit set.
  let width = 1;
  while (-value > 1n << BigInt(8 * width - 1)) width++;
  return unsignedBytes((1n << BigInt(8 * width)) + value);
}

function mpintValue(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  // RFC 4251: "Unnecessary leading bytes with the value 0 or 255 MUST NOT be included."
  if (bytes.length > 1 && ((bytes[0] === 0 && !(bytes[1] & 0x80)) || (bytes[0] === 0xff && bytes[1] & 0x80)))
    throw new SshWireError("mpint has an unnecessary leading byte");
  if (bytes.length === 1 && bytes[0] === 0) throw new SshWireError("mpint zero must be the empty string");
  const magnitude = unsignedValue(bytes);
  return bytes[0] & 0x80 ? magnitude - (1n << BigInt(8 * bytes.length)) : magnitude;
}
