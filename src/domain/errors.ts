/** Errors raised by domain rules; the errors interceptor turns them into Connect codes. */
export type ErrorKind =
  | "invalid_argument"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "resource_exhausted"
  | "unavailable"
  | "unimplemented";

export interface FieldViolation {
  field: string;
  description: string;
}

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    /** Stable UPPER_SNAKE reason, sent as google.rpc.ErrorInfo.reason. */
    readonly reason: string,
    message: string,
    readonly extra: { violations?: FieldViolation[]; retryAfterSeconds?: number; metadata?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message);
    this.name = "DomainError";
  }
}

export function invalidArgument(field: string, description: string, reason = "INVALID_ARGUMENT"): DomainError {
  return new DomainError("invalid_argument", reason, `${field}: ${description}`, { violations: [{ field, description }] });
}

/** One answer for every bad-credential case, so the caller cannot tell which part was wrong. */
export function invalidCredentials(): DomainError {
  return new DomainError("unauthenticated", "INVALID_CREDENTIALS", "invalid email or password");
}

export function unauthenticated(reason = "UNAUTHENTICATED", message = "missing or invalid credential"): DomainError {
  return new DomainError("unauthenticated", reason, message);
}

export function permissionDenied(reason = "PERMISSION_DENIED", message = "permission denied"): DomainError {
  return new DomainError("permission_denied", reason, message);
}

export function notFound(what: string): DomainError {
  return new DomainError("not_found", `${what.toUpperCase().replace(/\W+/g, "_")}_NOT_FOUND`, `${what} not found`);
}
