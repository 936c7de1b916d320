import { expect } from "vitest";
import { DomainError, type ErrorKind, type Reason } from "../../../../src/domain/errors.js";

/** Awaits a call that must fail with a DomainError of this kind and reason; returns the error. */
export async function expectDomainError(call: Promise<unknown>, kind: ErrorKind, reason: Reason): Promise<DomainError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the call should have failed").toBeInstanceOf(DomainError);
  expect({ kind: (err as DomainError).kind, reason: (err as DomainError).reason }).toEqual({ kind, reason });
  return err as DomainError;
}
