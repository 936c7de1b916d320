import { run, isCelError, type CelFunc } from "@bufbuild/cel";
import type { Expr, ExprOf } from "./cel-ast.js";
import { parseCidr } from "./cidr.js";
import { HELPER_NAMES, ZONED_METHODS } from "./cel-functions.js";
import {
  assignable,
  BOOL,
  BYTES,
  DOUBLE,
  DURATION,
  DYN,
  fieldType,
  fromCelType,
  INT,
  isNumeric,
  join,
  listOf,
  mapOf,
  NULL,
  sameType,
  STRING,
  TIMESTAMP,
  TYPE,
  typeName,
  UINT,
  type PrimKind,
  type Ty,
} from "./cel-types.js";
import { isKnownZone, minutesOf } from "./zoned-time.js";

/** A type error at one node of the expression (its id maps to a position in the source). */
export class CheckError extends Error {
  constructor(
    readonly exprId: bigint,
    message: string,
  ) {
    super(message);
  }
}

export interface CheckEnv {
  variables: ReadonlyMap<string, Ty>;
  /** Functions beyond the standard library, typed by their signatures. */
  funcs: readonly CelFunc[];
}

export interface Checked {
  type: Ty;
  /** The type of every node, by id (the cost estimate reads sizes from it). */
  types: Map<bigint, Ty>;
}

const MAX_DEPTH = 200;
const TYPE_NAMES = new Set(["int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type"]);
const CONVERSIONS: Record<string, { to: Ty; from: PrimKind[] }> = {
  int: { to: INT, from: ["int", "uint", "double", "string", "timestamp"] },
  uint: { to: UINT, from: ["int", "uint", "double", "string"] },
  double: { to: DOUBLE, from: ["int", "uint", "double", "string"] },
  string: { to: STRING, from: ["int", "uint", "double", "bool", "bytes", "string", "timestamp", "duration"] },
  bytes: { to: BYTES, from: ["string", "bytes"] },
  bool: { to: BOOL, from: ["bool", "string"] },
  timestamp: { to: TIMESTAMP, from: ["string", "timestamp", "int"] },
  duration: { to: DURATION, from: ["string", "duration"] },
};
const COMPARISONS = new Set(["_<_", "_<=_", "_>_", "_>=_"]);
const ORDERED = new Set(["string", "bytes", "bool", "timestamp", "duration"]);
const DURATION_GETTERS = new Set(["getHours", "getMinutes", "getSeconds", "getMilliseconds"]);

const isDyn = (t: Ty) => t.k === "dyn";
const is = (t: Ty, ...kinds: Ty["k"][]) => t.k === "dyn" || kinds.includes(t.k);
const nullable = (t: Ty) => t.k === "msg" || t.k === "timestamp" || t.k === "duration" || t.k === "null" || t.k === "dyn";

function equatable(a: Ty, b: Ty): boolean {
  if (isDyn(a) || isDyn(b) || (isNumeric(a) && isNumeric(b))) return true;
  if (a.k === "null" || b.k === "null") return nullable(a) && nullable(b);
  return assignable(a, b);
}

function orderable(a: Ty, b: Ty): boolean {
  if (isDyn(a) || isDyn(b) || (isNumeric(a) && isNumeric(b))) return true;
  return a.k === b.k && ORDERED.has(a.k);
}

function sameNumeric(a: Ty, b: Ty): Ty | undefined {
  if (isDyn(a) || isDyn(b)) return isNumeric(a) ? a : isNumeric(b) ? b : DYN;
  return isNumeric(a) && a.k === b.k ? a : undefined;
}

function plus(a: Ty, b: Ty): Ty | undefined {
  if (isDyn(a) || isDyn(b)) return DYN;
  if (a.k === "list" && b.k === "list") return join(a, b);
  if (a.k === b.k && (a.k === "string" || a.k === "bytes" || a.k === "duration")) return a;
  if ((a.k === "timestamp" && b.k === "duration") || (a.k === "duration" && b.k === "timestamp")) return TIMESTAMP;
  return sameNumeric(a, b);
}

function minus(a: Ty, b: Ty): Ty | undefined {
  if (isDyn(a) || isDyn(b)) return DYN;
  if (a.k === "timestamp" && b.k === "timestamp") return DURATION;
  if (a.k === "timestamp" && b.k === "duration") return TIMESTAMP;
  if (a.k === "duration" && b.k === "duration") return DURATION;
  return sameNumeric(a, b);
}

function index(a: Ty, b: Ty): Ty | undefined {
  if (isDyn(a)) return DYN;
  if (a.k === "list") return is(b, "int", "uint") ? a.e : undefined;
  if (a.k === "map") return assignable(a.key, b) ? a.val : undefined;
  return undefined;
}

/** The standard library's operators and functions; undefined when no overload applies. */
function standard(name: string, target: Ty | undefined, args: Ty[]): Ty | undefined {
  const [a, b, c] = args;
  const binary = !target && args.length === 2;
  switch (name) {
    case "_&&_":
    case "_||_":
      return binary && is(a!, "bool") && is(b!, "bool") ? BOOL : undefined;
    case "!_":
      return !target && args.length === 1 && is(a!, "bool") ? BOOL : undefined;
    case "@not_strictly_false":
      return BOOL;
    case "-_":
      return !target && args.length === 1 && is(a!, "int", "double") ? a : undefined;
    case "_==_":
    case "_!=_":
      return binary && equatable(a!, b!) ? BOOL : undefined;
    case "_+_":
      return binary ? plus(a!, b!) : undefined;
    case "_-_":
      return binary ? minus(a!, b!) : undefined;
    case "_*_":
    case "_/_":
      return binary ? sameNumeric(a!, b!) : undefined;
    case "_%_":
      return binary && is(a!, "int", "uint") ? sameNumeric(a!, b!) : undefined;
    case "_[_]":
      return binary ? index(a!, b!) : undefined;
    case "@in":
      if (!binary) return undefined;
      if (isDyn(b!)) return BOOL;
      if (b!.k === "list") return equatable(a!, b!.e) ? BOOL : undefined;
      if (b!.k === "map") return equatable(a!, b!.key) ? BOOL : undefined;
      return undefined;
    case "_?_:_":
      return !target && args.length === 3 && is(a!, "bool") ? join(b!, c!) : undefined;
    case "size": {
      const subject = target ? (args.length === 0 ? target : undefined) : args.length === 1 ? a : undefined;
      return subject && is(subject, "string", "bytes", "list", "map") ? INT : undefined;
    }
    case "contains":
    case "startsWith":
    case "endsWith":
      return target && args.length === 1 && is(target, "string") && is(a!, "string") ? BOOL : undefined;
    case "matches":
      if (target) return args.length === 1 && is(target, "string") && is(a!, "string") ? BOOL : undefined;
      return binary && is(a!, "string") && is(b!, "string") ? BOOL : undefined;
    case "dyn":
      return !target && args.length === 1 ? DYN : undefined;
    case "type":
      return !target && args.length === 1 ? TYPE : undefined;
  }
  if (COMPARISONS.has(name)) return binary && orderable(a!, b!) ? BOOL : undefined;
  const conversion = CONVERSIONS[name];
  if (conversion) return !target && args.length === 1 && (isDyn(a!) || conversion.from.includes(a!.k as PrimKind)) ? conversion.to : undefined;
  if (DURATION_GETTERS.has(name) && target?.k === "duration" && args.length === 0) return INT;
  return undefined;
}

const STANDARD_NAMES = new Set([
  "_&&_",
  "_||_",
  "!_",
  "@not_strictly_false",
  "-_",
  "_==_",
  "_!=_",
  "_+_",
  "_-_",
  "_*_",
  "_/_",
  "_%_",
  "_[_]",
  "@in",
  "_?_:_",
  "size",
  "contains",
  "startsWith",
  "endsWith",
  "matches",
  "dyn",
  "type",
  ...COMPARISONS,
  ...Object.keys(CONVERSIONS),
  ...DURATION_GETTERS,
]);

/** How an operator reads in a message ("_==_" as "=="), for errors people can act on. */
function displayName(fn: string): string {
  if (fn === "@in") return "in";
  const m = /^([!-]?)_(.*?)_?$/.exec(fn);
  return m ? m[1] || m[2]! : fn;
}

const constString = (e: Expr | undefined): string | undefined =>
  e?.exprKind.case === "constExpr" && e.exprKind.value.constantKind.case === "stringValue" ? e.exprKind.value.constantKind.value : undefined;

/** Literal arguments that can only fail at run time are refused at save instead. */
function literalProblem(call: ExprOf<"callExpr">, target: Ty | undefined): { at: Expr; message: string } | undefined {
  const args = call.args;
  const zone = (e: Expr | undefined) => {
    const z = constString(e);
    return z !== undefined && !isKnownZone(z) ? { at: e!, message: `unknown time zone '${z}'` } : undefined;
  };
  switch (call.function) {
    case HELPER_NAMES.ipInCidr: {
      const range = constString(args[1]);
      if (range !== undefined && !parseCidr(range))
        return { at: args[1]!, message: `'${range}' is not a CIDR range (an address, '/', a prefix of 0-32 for IPv4 or 0-128 for IPv6)` };
      return undefined;
    }
    case HELPER_NAMES.inTimeWindow: {
      const [start, end] = [constString(args[1]), constString(args[2])];
      if (start !== undefined && (minutesOf(start) ?? 1440) === 1440) return { at: args[1]!, message: `start '${start}' is not HH:MM (00:00 to 23:59)` };
      if (end !== undefined && minutesOf(end) === undefined) return { at: args[2]!, message: `end '${end}' is not HH:MM (00:00 to 24:00)` };
      if (start !== undefined && start === end) return { at: args[2]!, message: "the window is empty (start equals end)" };
      return zone(args[3]);
    }
    case HELPER_NAMES.weekday:
      return zone(args[1]);
    case "matches": {
      const pattern = constString(call.target ? args[0] : args[1]);
      const r = pattern === undefined ? undefined : run("''.matches(p)", { p: pattern });
      return r !== undefined && isCelError(r) ? { at: (call.target ? args[0] : args[1])!, message: `invalid regular expression: ${r.message}` } : undefined;
    }
    case "timestamp":
    case "duration": {
      const text = constString(args[0]);
      const r = text === undefined ? undefined : run(`${call.function}(s)`, { s: text });
      return r !== undefined && isCelError(r) ? { at: args[0]!, message: `invalid ${call.function} '${text}'` } : undefined;
    }
  }
  if (ZONED_METHODS.has(call.function) && target?.k === "timestamp" && args.length === 1) return zone(args[0]);
  return undefined;
}

/**
 * A type checker for policy expressions: @bufbuild/cel 0.6 plans and runs CEL but its checker
 * knows only constants and identifiers, so this one types the whole expression (variables,
 * message fields, the standard library, the registered functions, macros) and refuses what
 * could only fail at run time: unknown names and fields, mismatched overloads, literal time
 * zones, ranges and patterns that are malformed.
 */
export function checkExpression(root: Expr, env: CheckEnv): Checked {
  const types = new Map<bigint, Ty>();
  const scopes: Map<string, Ty>[] = [];
  const registered = new Map<string, CelFunc[]>();
  for (const f of env.funcs) registered.set(f.name, [...(registered.get(f.name) ?? []), f]);

  const resolve = (name: string): Ty | undefined => {
    for (let i = scopes.length - 1; i >= 0; i--) {
      const t = scopes[i]!.get(name);
      if (t) return t;
    }
    return env.variables.get(name) ?? (TYPE_NAMES.has(name) ? TYPE : undefined);
  };

  const visit = (e: Expr, depth: number): Ty => {
    if (depth > MAX_DEPTH) throw new CheckError(e.id, "the expression is nested too deeply");
    const t = typeOf(e, depth + 1);
    types.set(e.id, t);
    return t;
  };

  const typeOf = (e: Expr, depth: number): Ty => {
    const kind = e.exprKind;
    switch (kind.case) {
      case "constExpr":
        return constType(e);
      case "identExpr": {
        const t = resolve(kind.value.name);
        if (!t) throw new CheckError(e.id, `undeclared reference to '${kind.value.name}'`);
        return t;
      }
      case "selectExpr":
        return select(e, kind.value, depth);
      case "callExpr":
        return call(e, kind.value, depth);
      case "listExpr": {
        if (kind.value.optionalIndices.length) throw new CheckError(e.id, "optional list elements are not supported");
        const elems = kind.value.elements.map((x) => visit(x, depth));
        return listOf(elems.length ? elems.reduce(join) : DYN);
      }
      case "structExpr":
        return mapLiteral(e, kind.value, depth);
      case "comprehensionExpr":
        return comprehension(e, kind.value, depth);
      default:
        throw new CheckError(e.id, "unsupported expression");
    }
  };

  const constType = (e: Expr): Ty => {
    if (e.exprKind.case !== "constExpr") throw new CheckError(e.id, "not a constant");
    switch (e.exprKind.value.constantKind.case) {
      case "boolValue":
        return BOOL;
      case "int64Value":
        return INT;
      case "uint64Value":
        return UINT;
      case "doubleValue":
        return DOUBLE;
      case "stringValue":
        return STRING;
      case "bytesValue":
        return BYTES;
      case "nullValue":
        return NULL;
      case "durationValue":
        return DURATION;
      case "timestampValue":
        return TIMESTAMP;
      default:
        throw new CheckError(e.id, "unsupported constant");
    }
  };

  const select = (e: Expr, s: ExprOf<"selectExpr">, depth: number): Ty => {
    const operand = visit(s.operand!, depth);
    let field: Ty | undefined;
    if (operand.k === "msg") {
      const f = operand.desc.fields.find((x) => x.name === s.field);
      if (!f) throw new CheckError(e.id, `undefined field '${s.field}' of ${operand.desc.typeName}`);
      field = fieldType(f);
    } else if (operand.k === "map") {
      if (!assignable(operand.key, STRING)) throw new CheckError(e.id, `a map with ${typeName(operand.key)} keys has no field '${s.field}'`);
      field = operand.val;
    } else if (operand.k === "dyn") field = DYN;
    else throw new CheckError(e.id, `type '${typeName(operand)}' has no field '${s.field}'`);
    return s.testOnly ? BOOL : field;
  };

  const call = (e: Expr, c: ExprOf<"callExpr">, depth: number): Ty => {
    const target = c.target ? visit(c.target, depth) : undefined;
    const args = c.args.map((a) => visit(a, depth));
    const result = overload(c.function, target, args);
    if (!result) {
      if (!registered.has(c.function) && !STANDARD_NAMES.has(c.function))
        throw new CheckError(e.id, `undeclared reference to '${c.function}'${c.target ? " (a method)" : ""}`);
      const shown = `${target ? `${typeName(target)}.` : ""}(${args.map(typeName).join(", ")})`;
      throw new CheckError(e.id, `found no matching overload for '${displayName(c.function)}' applied to '${shown}'`);
    }
    const problem = literalProblem(c, target);
    if (problem) throw new CheckError(problem.at.id, problem.message);
    return result;
  };

  const overload = (name: string, target: Ty | undefined, args: Ty[]): Ty | undefined => {
    const results = (registered.get(name) ?? [])
      .filter((f) => !!f.target === !!target && f.arguments.length === args.length)
      .filter((f) => (!f.target || assignable(fromCelType(f.target), target!)) && f.arguments.every((p, i) => assignable(fromCelType(p), args[i]!)))
      .map((f) => fromCelType(f.result));
    if (results.length) return results.every((r) => sameType(r, results[0]!)) ? results[0] : DYN;
    return standard(name, target, args);
  };

  const mapLiteral = (e: Expr, s: ExprOf<"structExpr">, depth: number): Ty => {
    if (s.messageName) throw new CheckError(e.id, `creating messages (${s.messageName}) is not supported`);
    let key: Ty | undefined;
    let val: Ty | undefined;
    for (const entry of s.entries) {
      if (entry.keyKind.case !== "mapKey" || entry.optionalEntry) throw new CheckError(entry.id, "unsupported map entry");
      const k = visit(entry.keyKind.value, depth);
      if (!["int", "uint", "bool", "string", "dyn"].includes(k.k)) throw new CheckError(entry.id, `a map key cannot be of type ${typeName(k)}`);
      const v = visit(entry.value!, depth);
      key = key ? join(key, k) : k;
      val = val ? join(val, v) : v;
    }
    return mapOf(key ?? DYN, val ?? DYN);
  };

  const comprehension = (e: Expr, c: ExprOf<"comprehensionExpr">, depth: number): Ty => {
    const range = visit(c.iterRange!, depth);
    let first: Ty;
    let second: Ty | undefined;
    if (range.k === "list") [first, second] = c.iterVar2 ? [INT, range.e] : [range.e, undefined];
    else if (range.k === "map") [first, second] = [range.key, range.val];
    else if (range.k === "dyn") [first, second] = [DYN, DYN];
    else throw new CheckError(c.iterRange!.id, `a value of type ${typeName(range)} cannot be iterated`);
    let accu = visit(c.accuInit!, depth);
    const iteration = new Map<string, Ty>([[c.iterVar, first]]);
    if (c.iterVar2) iteration.set(c.iterVar2, second ?? DYN);
    scopes.push(new Map([[c.accuVar, accu]]), iteration);
    visit(c.loopCondition!, depth);
    const step = visit(c.loopStep!, depth);
    scopes.pop();
    scopes.pop();
    // map() and filter() start from an empty list: its element type is what the step adds.
    if (accu.k === "list" && accu.e.k === "dyn" && step.k === "list") accu = step;
    scopes.push(new Map([[c.accuVar, accu]]));
    const result = visit(c.result!, depth);
    scopes.pop();
    return result;
  };

  return { type: visit(root, 0), types };
}
