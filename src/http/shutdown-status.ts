import { Code, ConnectError, type Interceptor, type StreamRequest } from "@connectrpc/connect";
import { checkedAtStreamEnd } from "../interceptors/call-end.js";
import { errorInfo } from "../interceptors/errors.js";

/** What calls still running when the grace period ends are told: try another instance. */
export function shuttingDown(): ConnectError {
  return new ConnectError("the server is shutting down", Code.Unavailable, undefined, [errorInfo("UNAVAILABLE")]);
}

/**
 * A server stream (Health/Watch) stops when the shutdown signal aborts its call; without this it
 * would end as if it had finished (OK), or, once connections are destroyed, with a bare reset.
 * Innermost, so that it sees the handler's own messages end.
 */
export function shutdownStatusInterceptor(shutdown: AbortSignal): Interceptor {
  return (next) => (req) => (req.stream ? whenStreamEnds(req, next, shutdown) : next(req));
}

async function whenStreamEnds(req: StreamRequest, next: Parameters<Interceptor>[0], shutdown: AbortSignal) {
  return checkedAtStreamEnd(await next(req), () => (shutdown.aborted ? shuttingDown() : undefined));
}
