import { create, fromBinary, toBinary, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { EvaluatePolicyRequestSchema } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { HealthCheckRequestSchema } from "../../gen/warden/health/v1/health_service_pb.js";
import { structFieldDecoder } from "../../src/http/struct-fields.js";

/** The fast Struct decoder against protobuf-es's own fromBinary: same message for every well-formed input. */
const schema = EvaluatePolicyRequestSchema;
const fast = structFieldDecoder(schema)!;
const slow = (bytes: Uint8Array) => fromBinary(schema, bytes);
const ORG = "00000000-0000-4000-8000-000000000009";

/** A small seeded generator, so a failure can be replayed. */
function prng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const KEYS = ["", "user", "id", "roles", "a.b", "ünïcødé", "😀", "constructor", "toString", "0", "10", "x y"];
const NUMBERS = [0, -0, 1, -1.5, 1e308, -1e-308, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53];
const STRINGS = ["", "ann@acme.example", "line\nbreak", "ünïcødé 😀", "\u0000nul", "x".repeat(300)];

function randomJson(rand: () => number, depth: number): JsonValue {
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  const r = rand();
  if (depth <= 0 || r < 0.45) {
    const kind = Math.floor(rand() * 4);
    return kind === 0 ? pick(NUMBERS) : kind === 1 ? pick(STRINGS) : kind === 2 ? rand() < 0.5 : null;
  }
  if (r < 0.7) return Array.from({ length: Math.floor(rand() * 5) }, () => randomJson(rand, depth - 1));
  return randomObject(rand, depth - 1);
}

function randomObject(rand: () => number, depth: number): JsonObject {
  const o: JsonObject = {};
  for (let i = Math.floor(rand() * 6); i > 0; i--) o[KEYS[Math.floor(rand() * KEYS.length)]!] = randomJson(rand, depth);
  return o;
}

/** Wire-level builders, for what create() cannot express (repeats, unknown fields, missing parts). */
const w = () => new BinaryWriter();
const entry = (key: string | undefined, value: Uint8Array | undefined, extra?: (x: BinaryWriter) => void) => {
  const x = w();
  if (key !== undefined) x.tag(1, WireType.LengthDelimited).string(key);
  if (value !== undefined) x.tag(2, WireType.LengthDelimited).bytes(value);
  extra?.(x);
  return x.finish();
};
const struct = (...entries: Uint8Array[]) => {
  const x = w();
  for (const e of entries) x.tag(1, WireType.LengthDelimited).bytes(e);
  return x.finish();
};
const value = {
  num: (n: number) => w().tag(2, WireType.Bit64).double(n).finish(),
  str: (s: string) => w().tag(3, WireType.LengthDelimited).string(s).finish(),
  bool: (b: boolean) => w().tag(4, WireType.Varint).bool(b).finish(),
  nul: (n = 0) => w().tag(1, WireType.Varint).int32(n).finish(),
  struct: (s: Uint8Array) => w().tag(5, WireType.LengthDelimited).bytes(s).finish(),
  list: (...values: Uint8Array[]) => {
    const l = w();
    for (const v of values) l.tag(1, WireType.LengthDelimited).bytes(v);
    return w().tag(6, WireType.LengthDelimited).bytes(l.finish()).finish();
  },
  raw: (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p])),
};
const request = (...inputs: Uint8Array[]) => {
  const x = w().tag(1, WireType.LengthDelimited).string(ORG);
  for (const s of inputs) x.tag(2, WireType.LengthDelimited).bytes(s);
  return x.finish();
};

describe("Struct fields read straight from the wire", () => {
  it("decodes 1,000 random documents exactly as fromBinary does", () => {
    const rand = prng(20261202);
    for (let i = 0; i < 1000; i++) {
      const input = randomObject(rand, 6);
      const bytes = toBinary(schema, create(schema, { organizationId: ORG, input }));
      expect(fast(bytes)).toEqual(slow(bytes));
    }
  });

  it("matches fromBinary on repeats, merges, missing parts, unknown fields and __proto__", () => {
    const cases: Record<string, Uint8Array> = {
      "a repeated key: the last wins, in the first one's place": request(
        struct(entry("a", value.num(1)), entry("b", value.str("x")), entry("a", value.bool(true))),
      ),
      "the input field twice: the keys merge": request(
        struct(entry("a", value.num(1)), entry("b", value.num(2))),
        struct(entry("b", value.num(3)), entry("c", value.nul())),
      ),
      "a Value with no kind, and a null_value of another number": request(struct(entry("empty", new Uint8Array(0)), entry("odd", value.nul(7)))),
      "an entry with no key, and one with no value": request(struct(entry(undefined, value.num(1)), entry("novalue", undefined))),
      "a Value whose kind changes": request(struct(entry("k", value.raw(value.str("first"), value.num(2))))),
      "two list_values in one Value: the items concatenate": request(
        struct(entry("l", value.raw(value.list(value.num(1)), value.list(value.num(2), value.str("x"))))),
      ),
      "two struct_values in one Value: the keys merge": request(
        struct(entry("s", value.raw(value.struct(struct(entry("a", value.num(1)))), value.struct(struct(entry("b", value.num(2))))))),
      ),
      "unknown fields in the Struct, the Value and the list": request(
        value.raw(
          struct(
            entry("a", value.raw(value.num(1), w().tag(9, WireType.Varint).int32(5).finish())),
            entry("l", value.raw(value.list(value.num(1)), w().tag(8, WireType.Varint).int32(1).finish())),
          ),
          w().tag(4, WireType.Bit32).fixed32(1).finish(),
        ),
      ),
      "the key __proto__": request(struct(entry("__proto__", value.struct(struct(entry("polluted", value.bool(true))))), entry("ok", value.num(1)))),
      "an empty input": request(new Uint8Array(0)),
      "no input": request(),
      "unknown top-level fields and the organization after the input": value.raw(
        w()
          .tag(2, WireType.LengthDelimited)
          .bytes(struct(entry("a", value.num(1))))
          .finish(),
        w().tag(15, WireType.Varint).int32(3).finish(),
        w().tag(1, WireType.LengthDelimited).string(ORG).finish(),
      ),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      let expected;
      try {
        expected = slow(bytes);
      } catch (err) {
        throw new Error(`${name}: ${String(err)}`, { cause: err });
      }
      expect(fast(bytes), name).toEqual(expected);
    }
    const proto = fast(cases["the key __proto__"]!) as unknown as { input: Record<string, unknown> };
    expect(Object.getPrototypeOf(proto.input)).toBe(Object.prototype);
    expect(proto.input.polluted).toBeUndefined();
  });

  it("refuses what fromBinary refuses: invalid UTF-8, truncation, nesting past the recursion limit", () => {
    const badUtf8 = Uint8Array.of(0xc3, 0x28);
    const rawString = (field: number, bytes: Uint8Array) => w().tag(field, WireType.LengthDelimited).bytes(bytes).finish();
    const nested = (levels: number) => {
      let v = value.num(1);
      for (let i = 0; i < levels; i++) v = value.list(v);
      return request(struct(entry("deep", v)));
    };
    const refused = {
      "a key that is not UTF-8": request(struct(value.raw(rawString(1, badUtf8), rawString(2, value.num(1))))),
      "a string_value that is not UTF-8": request(struct(entry("a", rawString(3, badUtf8)))),
      "a truncated input": request(struct(entry("a", value.str("hello")))).subarray(0, 50 - 3),
      "lists nested 60 deep": nested(60),
    };
    for (const [name, bytes] of Object.entries(refused)) {
      expect(() => slow(bytes), name).toThrow();
      expect(() => fast(bytes), name).toThrow();
    }
    expect(fast(nested(40))).toEqual(slow(nested(40)));
  });

  it("refuses a wire type that does not match the field, and skips an unknown field in a map entry, where fromBinary reads on", () => {
    const wrongType = request(struct(entry("a", w().tag(3, WireType.Varint).int32(1).finish())));
    expect(() => fast(wrongType)).toThrow(/wire type/);
    // protobuf-es reads the unknown field's bytes as tags (and here fails); the encoding says skip it.
    const unknownInEntry = request(struct(entry("a", value.num(1), (x) => x.tag(7, WireType.LengthDelimited).string("?"))));
    expect(() => slow(unknownInEntry)).toThrow();
    expect(fast(unknownInEntry)).toMatchObject({ organizationId: ORG, input: { a: 1 } });
  });

  it("leaves messages without a Struct field to protobuf-es", () => {
    expect(structFieldDecoder(HealthCheckRequestSchema)).toBeUndefined();
  });
});
