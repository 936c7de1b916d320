import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

// ---------------------------------------------------------------- one error

/** The error of a rejected call, or undefined when it succeeded. */
export async function errorOf(call: Promise<unknown>): Promise<ConnectError | undefined> {
  try {
    await call;
    return undefined;
  } catch (err) {
    return ConnectError.from(err);
  }
}

/** The google.rpc.ErrorInfo reason every Warden error carries ("" when there is none). */
export function reasonOf(err: ConnectError): string {
  return err.findDetails(ErrorInfoSchema)[0]?.reason ?? "";
}

/** The field paths of the error's google.rpc.BadRequest violations. */
export function violatedFields(err: ConnectError): string[] {
  return err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field) ?? [];
}

/** Awaits a call that must fail, checks its code (and reason, when given), and returns the error. */
export async function expectError(call: Promise<unknown>, code: Code, reason?: string): Promise<ConnectError> {
  const err = await errorOf(call);
  expect(err, "the call should have failed").toBeDefined();
  expect(Code[err!.code], `${err!.message} (${reasonOf(err!)})`).toBe(Code[code]);
  if (reason !== undefined) expect(reasonOf(err!)).toBe(reason);
  return err!;
}

// ---------------------------------------------------------------- outcomes as strings

/** "OK", or "<Code>:<ErrorInfo.reason>": one comparable string per outcome, readable in a diff. */
export function outcomeOf(err: ConnectError | undefined): string {
  return err ? `${Code[err.code]}:${reasonOf(err)}` : "OK";
}

/** The outcome of a call, as outcomeOf spells it. */
export async function outcome(call: Promise<unknown>): Promise<string> {
  return outcomeOf(await errorOf(call));
}

/** The outcome of a call refused with PERMISSION_DENIED and this reason. */
export function denied(reason: string): string {
  return `${Code[Code.PermissionDenied]}:${reason}`;
}

/** Counts settled results by Connect code name ("ok" for fulfilled). */
export function tally(results: PromiseSettledResult<unknown>[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) {
    const key = r.status === "fulfilled" ? "ok" : Code[ConnectError.from(r.reason).code];
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

// ---------------------------------------------------------------- failures with their retry hints

/** An error with everything a client can read from it. */
export interface Failure {
  code: Code;
  reason: string;
  message: string;
  metadata: Record<string, string>;
  /** Seconds, from the retry-after header. */
  retryAfter?: number;
  /** Seconds, from the google.rpc.RetryInfo detail. */
  retryDelay?: number;
}

function failureFrom(err: unknown): Failure {
  const e = ConnectError.from(err);
  const header = e.metadata.get("retry-after");
  const retry = e.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds;
  return {
    code: e.code,
    reason: reasonOf(e),
    message: e.rawMessage,
    metadata: { ...(e.findDetails(ErrorInfoSchema)[0]?.metadata ?? {}) },
    retryAfter: header ? Number(header) : undefined,
    retryDelay: retry !== undefined ? Number(retry) : undefined,
  };
}

/** How a call failed; undefined when it succeeded. */
export async function failureOf(call: Promise<unknown>): Promise<Failure | undefined> {
  const err = await errorOf(call);
  return err && failureFrom(err);
}

/** expectError, answering the Failure. */
export async function expectFailure(call: Promise<unknown>, code: Code, reason?: string): Promise<Failure> {
  return failureFrom(await expectError(call, code, reason));
}

/** Over a budget: RESOURCE_EXHAUSTED, reason RATE_LIMITED, and a positive retry-after hint. */
export async function expectRateLimited(call: Promise<unknown>): Promise<Failure> {
  const f = await expectFailure(call, Code.ResourceExhausted, "RATE_LIMITED");
  expect(f.retryAfter, "retry-after header").toBeGreaterThan(0);
  expect(f.retryDelay, "RetryInfo detail").toBe(f.retryAfter);
  return f;
}

/** Runs calls together; the successes and the failures. */
export async function settleAll<T>(calls: Promise<T>[]): Promise<{ ok: T[]; failures: Failure[] }> {
  const results = await Promise.allSettled(calls);
  return {
    ok: results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : [])),
    failures: results.flatMap((r) => (r.status === "rejected" ? [failureFrom(r.reason)] : [])),
  };
}
