import type { Interceptor } from "@connectrpc/connect";
import { DomainError } from "../domain/errors.js";

/**
 * The server's own limit on a unary call, whatever the client's deadline: a database or other
 * dependency that hangs (accepts but never answers) must not hold callers forever. Past it the
 * call answers UNAVAILABLE, as a dependency that refuses would; the work it left behind
 * finishes or fails on its own with nobody waiting.
 */
export function callTimeoutInterceptor(timeoutSeconds: number): Interceptor {
  return (next) => async (req) => {
    if (req.stream) return next(req);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DomainError("unavailable", "SERVER_TIMEOUT", `no answer within ${timeoutSeconds} s: a dependency is not responding`)),
        timeoutSeconds * 1000,
      );
    });
    const work = next(req);
    work.catch(() => {});
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}
