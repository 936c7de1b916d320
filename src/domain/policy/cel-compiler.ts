import { celEnv, isCelError, objectType, parse, plan, type CelMap, type CelResult } from "@bufbuild/cel";
import { createRegistry, type DescMessage } from "@bufbuild/protobuf";
import {
  file_warden_policy_v1_policy_service,
  PolicyDeviceSchema,
  PolicyOrganizationSchema,
  PolicyRequestSchema,
  PolicySessionSchema,
  PolicyUserSchema,
  type PolicyInput,
} from "../../../gen/warden/policy/v1/policy_service_pb.js";
import { DomainError } from "../errors.js";
import type { ParsedExpr } from "./cel-ast.js";
import { CheckError, checkExpression } from "./cel-checker.js";
import { celRecord } from "./cel-record.js";
import { estimateCost } from "./cel-cost.js";
import { POLICY_FUNCTIONS } from "./cel-functions.js";
import { typeName, type Ty } from "./cel-types.js";

/** A condition's answer for one input: true or false, or why it could not be evaluated. */
export type ConditionResult = { ok: true; value: boolean } | { ok: false; error: string };

/** The CEL variables of one input, made once and shared by every policy evaluated against it. */
export type PolicyVariables = Record<"user" | "organization" | "device" | "session" | "request", CelMap>;

export interface CompiledCondition {
  /** The static cost estimate it passed. */
  cost: number;
  evaluate(input: PolicyInput | PolicyVariables): ConditionResult;
}

/** The input's parts as CEL variables, each typed as its message. */
const VARIABLES: Record<string, DescMessage> = {
  user: PolicyUserSchema,
  organization: PolicyOrganizationSchema,
  device: PolicyDeviceSchema,
  session: PolicySessionSchema,
  request: PolicyRequestSchema,
};

const env = celEnv({
  registry: createRegistry(file_warden_policy_v1_policy_service),
  funcs: POLICY_FUNCTIONS,
  variables: Object.fromEntries(Object.entries(VARIABLES).map(([name, desc]) => [name, objectType(desc)])),
});
const checkEnv = {
  variables: new Map<string, Ty>(Object.entries(VARIABLES).map(([name, desc]) => [name, { k: "msg", desc }])),
  funcs: POLICY_FUNCTIONS,
};

/** The input's parts as CEL values (cel-record.ts); an absent part reads as its empty message, as in proto3. */
export function policyVariables(input: PolicyInput): PolicyVariables {
  return {
    user: celRecord(PolicyUserSchema, input.user),
    organization: celRecord(PolicyOrganizationSchema, input.organization),
    device: celRecord(PolicyDeviceSchema, input.device),
    session: celRecord(PolicySessionSchema, input.session),
    request: celRecord(PolicyRequestSchema, input.request),
  };
}

const MAX_ERROR = 160;

/** A runtime failure in a few words, for a decision's reason ("runtime_error: <this>"). */
export function shortError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const line = message.split("\n")[0]!.trim() || "evaluation failed";
  return line.length > MAX_ERROR ? `${line.slice(0, MAX_ERROR - 1)}…` : line;
}

/** 1-based line and column of a character offset. */
export function lineAndColumn(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, Math.max(0, Math.min(offset, source.length)));
  const lines = before.split("\n");
  return { line: lines.length, column: lines[lines.length - 1]!.length + 1 };
}

function invalid(source: string, offset: number, message: string): DomainError {
  const { line, column } = lineAndColumn(source, offset);
  const text = `line ${line}, column ${column}: ${message}`;
  return new DomainError("invalid_argument", "POLICY_INVALID", text, { violations: [{ field: "policy.source", description: text }] });
}

/**
 * Compiles CEL conditions when a policy is saved (and when an instance loads it): parse,
 * type-check against PolicyInput, require a bool, estimate the worst-case cost and refuse it
 * past the limit, then plan. Errors name line and column (POLICY_INVALID).
 */
export class CelCompiler {
  constructor(private readonly opts: { costLimit: number }) {}

  compile(source: string): CompiledCondition {
    let parsed: ParsedExpr;
    try {
      parsed = parse(source);
    } catch (err) {
      const e = err as { location?: { start?: { offset?: number } }; rawMessage?: string };
      if (err instanceof RangeError) throw invalid(source, 0, "the expression is nested too deeply");
      throw invalid(source, e.location?.start?.offset ?? 0, `syntax error: ${e.rawMessage ?? shortError(err)}`);
    }
    const offsetOf = (id: bigint) => parsed.sourceInfo?.positions[id.toString()] ?? 0;
    let checked;
    try {
      checked = checkExpression(parsed.expr, checkEnv);
    } catch (err) {
      if (err instanceof CheckError) throw invalid(source, offsetOf(err.exprId), err.message);
      if (err instanceof RangeError) throw invalid(source, 0, "the expression is nested too deeply");
      throw err;
    }
    if (checked.type.k !== "bool") throw invalid(source, offsetOf(parsed.expr.id), `the condition must be a bool, not ${typeName(checked.type)}`);
    const estimate = estimateCost(parsed.expr, checked.types);
    if (estimate.cost > this.opts.costLimit)
      throw invalid(
        source,
        offsetOf(estimate.at),
        `estimated cost ${Math.ceil(estimate.cost)} exceeds the limit of ${this.opts.costLimit} (policy_cel_cost_limit): iterate over less or nest fewer comprehensions`,
      );
    let program: (vars: PolicyVariables) => CelResult;
    try {
      // The variables are typed as their messages for the checker; at run time they are CelRecords (cel-record.ts).
      program = plan(env, parsed) as unknown as (vars: PolicyVariables) => CelResult;
    } catch (err) {
      throw invalid(source, 0, shortError(err));
    }
    return {
      cost: estimate.cost,
      evaluate(input) {
        try {
          const r = program("$typeName" in input ? policyVariables(input) : input);
          if (isCelError(r)) return { ok: false, error: shortError(r) };
          if (typeof r !== "boolean") return { ok: false, error: "the condition did not produce a bool" };
          return { ok: true, value: r };
        } catch (err) {
          return { ok: false, error: shortError(err) };
        }
      },
    };
  }
}
