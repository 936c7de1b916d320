import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SshWireError, SshWireReader, SshWireWriter } from "../../src/crypto/ssh/ssh-wire.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const fromHex = (text: string) => Uint8Array.from(Buffer.from(text.replace(/ /g, ""), "hex"));

describe("SSH wire format (RFC 4251 section 5)", () => {
  // The mpint examples of RFC 4251 section 5 (the values there are hexadecimal).
  it.each([
    [0n, "00000000"],
    [0x9a378f9b2e332a7n, "00000008 09a378f9b2e332a7"],
    [0x80n, "00000002 0080"],
    [-0x1234n, "00000002 edcc"],
    [-0xdeadbeefn, "00000005 ff21524111"],
  ])("encodes mpint %s as the RFC example", (value, expected) => {
    const bytes = new SshWireWriter().mpint(value).bytes();
    expect(hex(bytes)).toBe(expected.replace(/ /g, ""));
    expect(new SshWireReader(bytes).mpint()).toBe(value);
  });

  it("round-trips mpints at every sign-bit boundary and at random", () => {
    const values = [1n, 127n, 128n, 255n, 256n, -1n, -127n, -128n, -129n, -255n, -256n, -257n, (1n << 2048n) - 1n, -(1n << 2048n)];
    for (let i = 0; i < 200; i++) {
      const magnitude = BigInt(`0x${randomBytes(1 + (i % 40)).toString("hex")}`);
      values.push(i % 2 ? magnitude : -magnitude);
    }
    for (const value of values) expect(new SshWireReader(new SshWireWriter().mpint(value).bytes()).mpint()).toBe(value);
  });

  it("round-trips every field type in order", () => {
    const blob = randomBytes(17);
    const bytes = new SshWireWriter()
      .byte(0xab)
      .boolean(true)
      .boolean(false)
      .uint32(0xffff_ffff)
      .uint64((1n << 64n) - 1n)
      .uint64(0n)
      .string(blob)
      .utf8("grüße")
      .mpint(-5n)
      .bytes();
    const reader = new SshWireReader(bytes);
    expect(reader.byte()).toBe(0xab);
    expect(reader.boolean()).toBe(true);
    expect(reader.boolean()).toBe(false);
    expect(reader.uint32()).toBe(0xffff_ffff);
    expect(reader.uint64()).toBe((1n << 64n) - 1n);
    expect(reader.uint64()).toBe(0n);
    expect(reader.string()).toEqual(Uint8Array.from(blob));
    expect(reader.utf8()).toBe("grüße");
    expect(reader.mpint()).toBe(-5n);
    expect(() => reader.end("the test data")).not.toThrow();
  });

  it("writes big-endian lengths and integers", () => {
    expect(hex(new SshWireWriter().uint32(0x01020304).uint64(0x05060708090a0b0cn).utf8("ab").bytes())).toBe("01020304" + "05060708090a0b0c" + "000000026162");
  });

  it("reads any non-zero boolean as true", () => {
    expect(new SshWireReader(Uint8Array.of(2)).boolean()).toBe(true);
  });

  it("refuses values out of range when writing", () => {
    const writer = new SshWireWriter();
    expect(() => writer.byte(256)).toThrow(SshWireError);
    expect(() => writer.uint32(-1)).toThrow(SshWireError);
    expect(() => writer.uint32(2 ** 32)).toThrow(SshWireError);
    expect(() => writer.uint32(1.5)).toThrow(SshWireError);
    expect(() => writer.uint64(-1n)).toThrow(SshWireError);
    expect(() => writer.uint64(1n << 64n)).toThrow(SshWireError);
  });

  it("refuses truncated fields", () => {
    expect(() => new SshWireReader(fromHex("000000")).uint32()).toThrow(/truncated uint32/);
    expect(() => new SshWireReader(fromHex("00000000000000")).uint64()).toThrow(/truncated uint64/);
    expect(() => new SshWireReader(fromHex("00000005 61626364")).string()).toThrow(/truncated string: needs 5 byte\(s\), 4 left/);
    expect(() => new SshWireReader(fromHex("ffffffff")).string()).toThrow(SshWireError);
  });

  it("refuses trailing bytes at the end", () => {
    const reader = new SshWireReader(fromHex("00000001 61 00"));
    reader.string();
    expect(() => reader.end("the blob")).toThrow("1 trailing byte(s) after the blob");
  });

  it("refuses mpints with unnecessary leading bytes", () => {
    expect(() => new SshWireReader(fromHex("00000001 00")).mpint()).toThrow(/zero/);
    expect(() => new SshWireReader(fromHex("00000002 007f")).mpint()).toThrow(/leading byte/);
    expect(() => new SshWireReader(fromHex("00000002 ff80")).mpint()).toThrow(/leading byte/);
  });

  it("refuses strings that are not UTF-8 where text is expected", () => {
    expect(() => new SshWireReader(fromHex("00000001 ff")).utf8()).toThrow("string is not valid UTF-8");
  });

  it("copies strings out, so later changes to the buffer do not reach them", () => {
    const bytes = new SshWireWriter().string(Uint8Array.of(1, 2, 3)).bytes();
    const read = new SshWireReader(bytes).string();
    bytes[4] = 9;
    expect(read).toEqual(Uint8Array.of(1, 2, 3));
  });
});
