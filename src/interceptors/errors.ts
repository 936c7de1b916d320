import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { kRequestId } from "../context.js";
import { isDatabaseUnavailable, isInvalidData } from "../db/faults.js";
import { DomainError, type ErrorKind, type Reason } from "../domain/errors.js";

const CODES: Record<ErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  unimplemented: Code.Unimplemented,
  deadline_exceeded: Code.DeadlineExceeded,
  canceled: Code.Canceled,
  internal: Code.Internal,
  unknown: Code.Unknown,
  aborted: Code.Aborted,
  out_of_range: Code.OutOfRange,
  data_loss: Code.DataLoss,
};

/** The reason an error without one gets from its code alone (errors raised by connect-es itself). */
const CODE_REASONS: Record<Code, Reason> = {
  [Code.Canceled]: "CANCELED",
  [Code.Unknown]: "UNKNOWN",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED",
  [Code.NotFound]: "NOT_FOUND",
  [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  // The one resource_exhausted connect-es raises: a message over the read limit.
  [Code.ResourceExhausted]: "MESSAGE_TOO_LARGE",
  [Code.FailedPrecondition]: "FAILED_PRECONDITION",
  [Code.Aborted]: "ABORTED",
  [Code.OutOfRange]: "OUT_OF_RANGE",
  [Code.Unimplemented]: "UNIMPLEMENTED",
  [Code.Internal]: "INTERNAL",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DataLoss]: "DATA_LOSS",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
};

export const ERROR_DOMAIN = "warden";

/** Every error leaves with a canonical code and a google.rpc.ErrorInfo; faults never leak details. */
export function errorsInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    let res;
    try {
      res = await next(req);
    } catch (err) {
      throw toConnectError(err, log, req.contextValues.get(kRequestId));
    }
    if (!res.stream) return res;
    const convert = (err: unknown) => toConnectError(err, log, req.contextValues.get(kRequestId));
    // A stream's handler runs while its messages are read, after this returned: its errors are converted as they leave.
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* messages;
        } catch (err) {
          throw convert(err);
        }
      })(),
    };
  };
}

export function toConnectError(err: unknown, log: Logger, requestId: string): ConnectError {
  if (err instanceof DomainError) return fromDomainError(err);
  if (err instanceof ConnectError) {
    if (err.findDetails(ErrorInfoSchema).length > 0) return err;
    return new ConnectError(err.rawMessage, err.code, err.metadata, [errorInfo(CODE_REASONS[err.code] ?? "UNKNOWN")], err.cause);
  }
  if (isDatabaseUnavailable(err)) {
    log.warn({ request_id: requestId, err: describe(err) }, "database unavailable");
    return new ConnectError("service temporarily unavailable", Code.Unavailable, undefined, [errorInfo("DATABASE_UNAVAILABLE")]);
  }
  if (isInvalidData(err)) {
    log.info({ request_id: requestId, err: describe(err) }, "input the database cannot hold");
    return new ConnectError("a value in the request cannot be stored or looked up", Code.InvalidArgument, undefined, [errorInfo("INVALID_ARGUMENT")]);
  }
  log.error({ request_id: requestId, err: describe(err) }, "unexpected error");
  return new ConnectError("internal error", Code.Internal, undefined, [errorInfo("INTERNAL")]);
}

type OutgoingDetail = ConstructorParameters<typeof ConnectError>[3] extends (infer D)[] | undefined ? D : never;

export function errorInfo(reason: Reason, metadata: Record<string, string> = {}): OutgoingDetail {
  return { desc: ErrorInfoSchema, value: { reason, domain: ERROR_DOMAIN, metadata } };
}

export function fieldViolations(violations: { field: string; description: string }[]): OutgoingDetail {
  return { desc: BadRequestSchema, value: { fieldViolations: violations.map((v) => ({ field: v.field, description: v.description })) } };
}

function fromDomainError(err: DomainError): ConnectError {
  const details: OutgoingDetail[] = [errorInfo(err.reason, err.extra.metadata)];
  const headers = new Headers();
  if (err.extra.violations?.length) details.push(fieldViolations(err.extra.violations));
  if (err.extra.retryAfterSeconds) {
    details.push({ desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(err.extra.retryAfterSeconds), nanos: 0 } } });
    headers.set("retry-after", String(err.extra.retryAfterSeconds));
  }
  return new ConnectError(err.message, CODES[err.kind], headers, details);
}

/** Error name, code and message only: never parameters or connection strings. */
function describe(err: unknown): Record<string, unknown> {
  const e = err as { name?: string; code?: unknown; message?: string; cause?: unknown; stack?: string };
  const cause = e?.cause as { code?: unknown; message?: string } | undefined;
  return {
    name: e?.name,
    code: e?.code,
    message: redact(e?.message),
    cause: cause ? { code: cause.code, message: redact(cause.message) } : undefined,
    stack: redactStack(e?.stack),
  };
}

/** The frames only: the first lines of a stack repeat the message, parameters included. */
function redactStack(stack: string | undefined): string | undefined {
  return stack
    ?.split("\n")
    .filter((line) => /^\s+at /.test(line))
    .slice(0, 6)
    .join("\n");
}

/** Drizzle puts bound parameters (which may be hashes or tokens) in its messages: drop them. */
function redact(message: string | undefined): string | undefined {
  return message?.replace(/params:[\s\S]*$/, "params: [redacted]").slice(0, 300);
}
