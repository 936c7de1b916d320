import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/**
 * Honors the client's deadline (connect-timeout-ms / grpc-timeout). connect-es only aborts the
 * call's signal when it passes; without this the handler's answer would still be sent as OK.
 * A unary call answers DEADLINE_EXCEEDED as soon as its deadline passes, and is not started
 * when it has passed already.
 */
export function deadlineInterceptor(): Interceptor {
  return (next) => async (req) => {
    const expired = deadlineError(req.signal);
    if (expired) throw expired;
    if (req.stream) return next(req);
    let onAbort: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      onAbort = () => {
        const err = deadlineError(req.signal);
        if (err) reject(err);
      };
      req.signal.addEventListener("abort", onAbort, { once: true });
    });
    const work = next(req);
    // The work may still settle after the caller was told DEADLINE_EXCEEDED: nobody is listening then.
    work.catch(() => {});
    try {
      return await Promise.race([work, deadline]);
    } finally {
      req.signal.removeEventListener("abort", onAbort!);
    }
  };
}

function deadlineError(signal: AbortSignal): ConnectError | undefined {
  if (!signal.aborted) return undefined;
  const reason = ConnectError.from(signal.reason);
  return reason.code === Code.DeadlineExceeded ? new ConnectError("deadline exceeded", Code.DeadlineExceeded) : undefined;
}
