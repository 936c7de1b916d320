import { checkedAtStreamEnd } from "./call-end.js";
import { Code, ConnectError, type Interceptor, type StreamRequest, type StreamResponse, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";

/**
 * Honors the client's deadline (connect-timeout-ms / grpc-timeout). connect-es only aborts the
 * call's signal when it passes; without this the handler's answer would still be sent as OK.
 * A unary call answers DEADLINE_EXCEEDED as soon as its deadline passes, and is not started
 * when it has passed already; a server stream (Health/Watch) that stops because its deadline
 * passed ends with DEADLINE_EXCEEDED, not OK.
 */
export function deadlineInterceptor(): Interceptor {
  // A call without a deadline has nothing to watch (and its signal need not be made).
  return (next) => (req) => (req.header.has("grpc-timeout") || req.header.has("connect-timeout-ms") ? withDeadline(req, next) : next(req));
}

async function withDeadline(req: UnaryRequest | StreamRequest, next: (req: UnaryRequest | StreamRequest) => Promise<UnaryResponse | StreamResponse>) {
  const expired = deadlineError(req.signal);
  if (expired) throw expired;
  if (req.stream) return endsAtDeadline(req.signal, await next(req));
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
}

function endsAtDeadline(signal: AbortSignal, res: StreamResponse | UnaryResponse): StreamResponse | UnaryResponse {
  return checkedAtStreamEnd(res, () => deadlineError(signal));
}

function deadlineError(signal: AbortSignal): ConnectError | undefined {
  if (!signal.aborted) return undefined;
  const reason = ConnectError.from(signal.reason);
  return reason.code === Code.DeadlineExceeded ? new ConnectError("deadline exceeded", Code.DeadlineExceeded) : undefined;
}
