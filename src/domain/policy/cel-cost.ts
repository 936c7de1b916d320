import type { Expr } from "./cel-ast.js";
import { HELPER_NAMES, ZONED_METHODS } from "./cel-functions.js";
import type { Ty } from "./cel-types.js";

/**
 * The largest input a policy sees: longer strings and lists are refused by EvaluatePolicy and
 * cut by the input builder, so the estimate below is an upper bound of the work one evaluation does.
 */
export const INPUT_LIMITS = { maxString: 1024, maxList: 64 } as const;

export interface CostEstimate {
  cost: number;
  /** The node that costs the most among comprehensions (or the root): where a refusal points. */
  at: bigint;
}

/** Per character of a string an operation walks (cel-go uses 0.1 too). */
const PER_CHAR = 0.1;
const ZONE_COST = 40;
const HELPER_COST: Record<string, number> = { [HELPER_NAMES.ipInCidr]: 10, [HELPER_NAMES.inTimeWindow]: ZONE_COST, [HELPER_NAMES.weekday]: ZONE_COST };
const WALKS_STRINGS = new Set([
  "contains",
  "startsWith",
  "endsWith",
  "lowerAscii",
  "upperAscii",
  "trim",
  "replace",
  "split",
  "indexOf",
  "lastIndexOf",
  "substring",
  "charAt",
  "join",
  "format",
  "string",
  "bytes",
]);

/**
 * A static, worst-case cost of one evaluation: one unit per node, string work by length, and
 * comprehensions multiplied by the size of what they iterate (so nesting multiplies). Sizes
 * come from literals, or else from INPUT_LIMITS.
 */
export function estimateCost(root: Expr, types: Map<bigint, Ty>): CostEstimate {
  let worst: { cost: number; at: bigint } | undefined;
  const typeOf = (e: Expr | undefined) => (e ? types.get(e.id) : undefined);

  /** The most characters (strings) or elements (lists, maps) a value can have. */
  const size = (e: Expr | undefined): number => {
    if (!e) return 1;
    const k = e.exprKind;
    if (k.case === "constExpr") {
      const c = k.value.constantKind;
      return c.case === "stringValue" ? c.value.length : c.case === "bytesValue" ? c.value.length : 1;
    }
    if (k.case === "listExpr") return k.value.elements.length;
    if (k.case === "structExpr") return k.value.entries.length;
    if (k.case === "callExpr") {
      const f = k.value.function;
      if (f === "_+_") return Math.min(size(k.value.args[0]) + size(k.value.args[1]), 1e9);
      if (f === "split") return size(k.value.target);
      if (f === "lowerAscii" || f === "upperAscii" || f === "trim") return size(k.value.target);
    }
    // map() and filter() return at most as many elements as they iterate.
    if (k.case === "comprehensionExpr" && typeOf(e)?.k === "list") return size(k.value.iterRange);
    const t = typeOf(e);
    if (t?.k === "string" || t?.k === "bytes") return INPUT_LIMITS.maxString;
    if (t?.k === "list" || t?.k === "map" || t?.k === "dyn") return INPUT_LIMITS.maxList;
    return 1;
  };

  const cost = (e: Expr | undefined): number => {
    if (!e) return 0;
    const k = e.exprKind;
    switch (k.case) {
      case "selectExpr":
        return 1 + cost(k.value.operand);
      case "listExpr":
        return 1 + k.value.elements.reduce((sum, x) => sum + cost(x), 0);
      case "structExpr":
        return 1 + k.value.entries.reduce((sum, x) => sum + (x.keyKind.case === "mapKey" ? cost(x.keyKind.value) : 0) + cost(x.value), 0);
      case "callExpr":
        return callCost(k.value.function, k.value.target, k.value.args);
      case "comprehensionExpr": {
        const c = k.value;
        const n = size(c.iterRange);
        const total = cost(c.iterRange) + cost(c.accuInit) + n * (cost(c.loopCondition) + cost(c.loopStep)) + cost(c.result);
        if (!worst || total > worst.cost) worst = { cost: total, at: e.id };
        return total;
      }
      default:
        return 1;
    }
  };

  const callCost = (fn: string, target: Expr | undefined, args: Expr[]): number => {
    const base = 1 + cost(target) + args.reduce((sum, x) => sum + cost(x), 0);
    const stringy = (x: Expr | undefined) => ["string", "bytes"].includes(typeOf(x)?.k ?? "");
    if (fn === "_==_" || fn === "_!=_" || fn === "_<_" || fn === "_<=_" || fn === "_>_" || fn === "_>=_")
      // A comparison stops at the shorter string.
      return base + (stringy(args[0]) ? Math.ceil(PER_CHAR * Math.min(size(args[0]), size(args[1]))) : 0);
    if (fn === "@in") {
      const haystack = args[1];
      const per = stringy(args[0]) ? Math.ceil(PER_CHAR * size(args[0])) : 1;
      return base + (typeOf(haystack)?.k === "map" ? per : size(haystack) * per);
    }
    if (fn === "matches") {
      const [subject, pattern] = target ? [target, args[0]] : [args[0], args[1]];
      return base + Math.ceil(PER_CHAR * size(subject) * Math.max(1, size(pattern)));
    }
    if (fn === "_+_" && (stringy(args[0]) || typeOf(args[0])?.k === "list")) return base + Math.ceil(PER_CHAR * (size(args[0]) + size(args[1])));
    if (WALKS_STRINGS.has(fn)) return base + Math.ceil(PER_CHAR * [target, ...args].reduce((sum, x) => sum + (x ? size(x) : 0), 0));
    if (HELPER_COST[fn]) return base + HELPER_COST[fn]!;
    if (ZONED_METHODS.has(fn)) return base + (args.length ? ZONE_COST : 2);
    return base;
  };

  const total = cost(root);
  return { cost: total, at: worst?.at ?? root.id };
}
