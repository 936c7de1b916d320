import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/** The google.rpc.ErrorInfo reason every Warden error carries. */
export function reasonOf(err: ConnectError): string | undefined {
  return err.findDetails(ErrorInfoSchema)[0]?.reason;
}

/** The field paths of the error's google.rpc.BadRequest violations. */
export function violatedFields(err: ConnectError): string[] {
  return err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field) ?? [];
}

/** Awaits a call that must fail, checks its code (and reason, when given), and returns the error. */
export async function expectError(call: Promise<unknown>, code: Code, reason?: string): Promise<ConnectError> {
  let caught: unknown;
  try {
    await call;
  } catch (err) {
    caught = err;
  }
  expect(caught, "the call should have failed").toBeDefined();
  const err = ConnectError.from(caught);
  expect(Code[err.code], `${err.message} (${reasonOf(err)})`).toBe(Code[code]);
  if (reason !== undefined) expect(reasonOf(err)).toBe(reason);
  return err;
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
