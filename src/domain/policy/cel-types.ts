import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import type { CelType } from "@bufbuild/cel";

/** The types the policy checker reasons about. */
export type Ty =
  | { k: "bool" | "int" | "uint" | "double" | "string" | "bytes" | "null" | "timestamp" | "duration" | "dyn" | "type" }
  | { k: "list"; e: Ty }
  | { k: "map"; key: Ty; val: Ty }
  | { k: "msg"; desc: DescMessage };

export type PrimKind = Exclude<Ty["k"], "list" | "map" | "msg">;

const prims = new Map<PrimKind, Ty>();
export function prim(k: PrimKind): Ty {
  let t = prims.get(k);
  if (!t) prims.set(k, (t = { k }));
  return t;
}

export const BOOL = prim("bool");
export const INT = prim("int");
export const UINT = prim("uint");
export const DOUBLE = prim("double");
export const STRING = prim("string");
export const BYTES = prim("bytes");
export const NULL = prim("null");
export const TIMESTAMP = prim("timestamp");
export const DURATION = prim("duration");
export const DYN = prim("dyn");
export const TYPE = prim("type");
export const listOf = (e: Ty): Ty => ({ k: "list", e });
export const mapOf = (key: Ty, val: Ty): Ty => ({ k: "map", key, val });

export function typeName(t: Ty): string {
  switch (t.k) {
    case "list":
      return `list(${typeName(t.e)})`;
    case "map":
      return `map(${typeName(t.key)}, ${typeName(t.val)})`;
    case "msg":
      return t.desc.typeName;
    case "null":
      return "null_type";
    case "timestamp":
      return "google.protobuf.Timestamp";
    case "duration":
      return "google.protobuf.Duration";
    default:
      return t.k;
  }
}

export function sameType(a: Ty, b: Ty): boolean {
  if (a.k !== b.k) return false;
  if (a.k === "list") return sameType(a.e, (b as typeof a).e);
  if (a.k === "map") return sameType(a.key, (b as typeof a).key) && sameType(a.val, (b as typeof a).val);
  if (a.k === "msg") return a.desc.typeName === (b as typeof a).desc.typeName;
  return true;
}

/** Whether a value of type `arg` may be passed where `param` is expected (dyn goes both ways). */
export function assignable(param: Ty, arg: Ty): boolean {
  if (param.k === "dyn" || arg.k === "dyn") return true;
  if (param.k === "list" && arg.k === "list") return assignable(param.e, arg.e);
  if (param.k === "map" && arg.k === "map") return assignable(param.key, arg.key) && assignable(param.val, arg.val);
  return sameType(param, arg);
}

/** The common type of two branches or elements: the type itself when they agree, dyn otherwise. */
export function join(a: Ty, b: Ty): Ty {
  if (sameType(a, b)) return a;
  if (a.k === "list" && b.k === "list") return listOf(a.e.k === "dyn" ? b.e : b.e.k === "dyn" ? a.e : join(a.e, b.e));
  return DYN;
}

export const isNumeric = (t: Ty) => t.k === "int" || t.k === "uint" || t.k === "double";

const WRAPPERS: Record<string, PrimKind> = {
  "google.protobuf.BoolValue": "bool",
  "google.protobuf.Int32Value": "int",
  "google.protobuf.Int64Value": "int",
  "google.protobuf.UInt32Value": "uint",
  "google.protobuf.UInt64Value": "uint",
  "google.protobuf.FloatValue": "double",
  "google.protobuf.DoubleValue": "double",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "bytes",
};

/** A message type as CEL sees it: well-known types become their CEL counterparts. */
export function messageType(desc: DescMessage): Ty {
  switch (desc.typeName) {
    case "google.protobuf.Timestamp":
      return TIMESTAMP;
    case "google.protobuf.Duration":
      return DURATION;
    case "google.protobuf.Struct":
      return mapOf(STRING, DYN);
    case "google.protobuf.Value":
    case "google.protobuf.Any":
      return DYN;
    case "google.protobuf.ListValue":
      return listOf(DYN);
  }
  const wrapped = WRAPPERS[desc.typeName];
  return wrapped ? prim(wrapped) : { k: "msg", desc };
}

function scalarType(s: ScalarType): Ty {
  switch (s) {
    case ScalarType.BOOL:
      return BOOL;
    case ScalarType.STRING:
      return STRING;
    case ScalarType.BYTES:
      return BYTES;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return DOUBLE;
    case ScalarType.UINT32:
    case ScalarType.UINT64:
    case ScalarType.FIXED32:
    case ScalarType.FIXED64:
      return UINT;
    default:
      return INT;
  }
}

/** The CEL type of a field of a message. */
export function fieldType(f: DescField): Ty {
  switch (f.fieldKind) {
    case "scalar":
      return scalarType(f.scalar);
    case "enum":
      return INT;
    case "message":
      return messageType(f.message);
    case "list":
      return listOf(f.listKind === "scalar" ? scalarType(f.scalar) : f.listKind === "enum" ? INT : messageType(f.message));
    case "map":
      return mapOf(scalarType(f.mapKey), f.mapKind === "scalar" ? scalarType(f.scalar) : f.mapKind === "enum" ? INT : messageType(f.message));
  }
}

/** A @bufbuild/cel type (of a registered function's signature) in the checker's terms. */
export function fromCelType(t: CelType): Ty {
  switch (t.kind) {
    case "list":
      return listOf(fromCelType(t.element));
    case "map":
      return mapOf(fromCelType(t.key), fromCelType(t.value));
    case "object":
      return t.desc ? messageType(t.desc) : DYN;
    case "scalar":
      return t.scalar === "null_type" ? NULL : prim(t.scalar);
  }
}
