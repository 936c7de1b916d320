import { celFromScalar, celList, type CelMap, type CelValue } from "@bufbuild/cel";
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { reflect, scalarZeroValue, isScalarZeroValue } from "@bufbuild/protobuf/reflect";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";

/**
 * A policy input's message as a CEL value that evaluates faster than its ReflectMessage: the
 * fields are converted to CEL values once per input, and a field access is one Map lookup
 * (through a ReflectMessage, @bufbuild/cel finds the field by name in a list and converts the
 * value again on every access; with twenty policies over one input, that is most of the work).
 *
 * It behaves as the message would: every field of the schema reads (unset ones as their
 * default, an unset message as its empty message), `has()` follows proto3 presence (a scalar
 * is present when it is not its default, a list when it is not empty, a message when it is
 * set), and no other key exists. @bufbuild/cel recognizes maps by the registered symbol below,
 * which is how its own maps are marked.
 */
const CEL_MAP = Symbol.for("@bufbuild/cel/map");

class CelRecord {
  readonly [CEL_MAP] = {};
  constructor(
    private readonly fields: Map<string, CelValue>,
    private readonly present: ReadonlySet<string>,
  ) {}
  get size(): number {
    return this.fields.size;
  }
  get(key: unknown): CelValue | undefined {
    return typeof key === "string" ? this.fields.get(key) : undefined;
  }
  has(key: unknown): boolean {
    return typeof key === "string" && this.present.has(key);
  }
  keys() {
    return this.fields.keys();
  }
  values() {
    return this.fields.values();
  }
  entries() {
    return this.fields.entries();
  }
  forEach(callback: (value: CelValue, key: string, map: CelRecord) => void): void {
    this.fields.forEach((v, k) => callback(v, k, this));
  }
  [Symbol.iterator]() {
    return this.fields.entries();
  }
}

/** Messages kept as ReflectMessages: the well-known types CEL gives a meaning of their own (timestamp, duration). */
const KEPT_AS_MESSAGE = new Set(["google.protobuf.Timestamp", "google.protobuf.Duration"]);

/** `message` (of `desc`, or absent: its empty message) as a CEL value with the message's fields. */
export function celRecord(desc: DescMessage, message: Record<string, unknown> | undefined): CelMap {
  const values = new Map<string, CelValue>();
  const present = new Set<string>();
  for (const field of desc.fields) {
    const raw = message?.[field.localName];
    values.set(field.name, celValueOf(field, raw));
    if (isPresent(field, raw)) present.add(field.name);
  }
  return new CelRecord(values, present) as unknown as CelMap;
}

function celValueOf(field: DescField, raw: unknown): CelValue {
  switch (field.fieldKind) {
    case "scalar":
      return celFromScalar(field.scalar, (raw ?? scalarDefault(field)) as never) as CelValue;
    case "enum":
      return BigInt((raw as number | undefined) ?? 0);
    case "list":
      return celList(listValues(field, (raw as unknown[] | undefined) ?? []));
    case "message":
      if (KEPT_AS_MESSAGE.has(field.message.typeName)) return reflect(field.message, raw as never) as unknown as CelValue;
      return celRecord(field.message, raw as Record<string, unknown> | undefined) as CelValue;
    case "map":
      throw new Error(`policy input field ${field.name}: map fields are not supported`);
  }
}

function listValues(field: DescField & { fieldKind: "list" }, raw: unknown[]): CelValue[] {
  switch (field.listKind) {
    case "scalar":
      return raw.map((v) => celFromScalar(field.scalar, v as never) as CelValue);
    case "enum":
      return raw.map((v) => BigInt(v as number));
    case "message":
      return raw.map((v) => celRecord(field.message, v as Record<string, unknown>) as CelValue);
  }
}

function scalarDefault(field: DescField & { fieldKind: "scalar" }): unknown {
  return field.getDefaultValue() ?? scalarZeroValue(field.scalar, false);
}

function isPresent(field: DescField, raw: unknown): boolean {
  if (raw === undefined || raw === null) return false;
  const explicit = field.presence === FeatureSet_FieldPresence.EXPLICIT;
  switch (field.fieldKind) {
    case "list":
      return (raw as unknown[]).length > 0;
    case "message":
      return true;
    case "enum":
      return explicit || raw !== 0;
    case "scalar":
      return explicit || !isScalarZeroValue(field.scalar, raw);
    default:
      return true;
  }
}
