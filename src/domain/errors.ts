import type { ErrorKind, Reason, ReasonFor } from "./error-reasons.js";

export type { ErrorKind, Reason } from "./error-reasons.js";

export interface FieldViolation {
  field: string;
  description: string;
}

export interface ErrorExtra {
  violations?: FieldViolation[];
  retryAfterSeconds?: number;
  metadata?: Record<string, string>;
  cause?: unknown;
}

/**
 * Errors raised by domain rules; the errors interceptor turns them into Connect codes. The
 * reason comes from the catalogue (error-reasons.ts), and only with a code it is listed for.
 */
export class DomainError<K extends ErrorKind = ErrorKind> extends Error {
  readonly reason: Reason;

  constructor(
    readonly kind: K,
    reason: ReasonFor<K>,
    message: string,
    readonly extra: ErrorExtra = {},
  ) {
    super(message);
    this.name = "DomainError";
    this.reason = reason;
  }
}

export function invalidArgument(field: string, description: string, reason: ReasonFor<"invalid_argument"> = "INVALID_ARGUMENT"): DomainError {
  return new DomainError("invalid_argument", reason, `${field}: ${description}`, { violations: [{ field, description }] });
}

/** One answer for every bad-credential case, so the caller cannot tell which part was wrong. */
export function invalidCredentials(): DomainError {
  return new DomainError("unauthenticated", "INVALID_CREDENTIALS", "invalid email or password");
}

export function unauthenticated(reason: ReasonFor<"unauthenticated"> = "UNAUTHENTICATED", message = "missing or invalid credential"): DomainError {
  return new DomainError("unauthenticated", reason, message);
}

export function permissionDenied(reason: ReasonFor<"permission_denied"> = "PERMISSION_DENIED", message = "permission denied"): DomainError {
  return new DomainError("permission_denied", reason, message);
}

export function notFound(reason: ReasonFor<"not_found">, what: string): DomainError {
  return new DomainError("not_found", reason, `${what} not found`);
}
