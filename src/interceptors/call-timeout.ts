import type { Interceptor } from "@connectrpc/connect";
import { DomainError } from "../domain/errors.js";
import { DeadlineSweeper } from "../deadline-sweeper.js";

/**
 * The server's own limit on a unary call, whatever the client's deadline: a database or other
 * dependency that hangs (accepts but never answers) must not hold callers forever. Past it the
 * call answers UNAVAILABLE, as a dependency that refuses would; the work it left behind
 * finishes or fails on its own with nobody waiting. Deadlines are swept every 100 ms rather
 * than timed one by one (the hot path pays a map entry, not a timer).
 */
export function callTimeoutInterceptor(timeoutSeconds: number): Interceptor {
  const deadlines = new DeadlineSweeper(100);
  const late = () => new DomainError("unavailable", "SERVER_TIMEOUT", `no answer within ${timeoutSeconds} s: a dependency is not responding`);
  return (next) => (req) => {
    if (req.stream) return next(req);
    const call = {};
    return new Promise((resolve, reject) => {
      deadlines.add(call, timeoutSeconds * 1000, () => reject(late()));
      next(req).then(
        (res) => {
          deadlines.cancel(call);
          resolve(res);
        },
        (err: unknown) => {
          deadlines.cancel(call);
          reject(err);
        },
      );
    });
  };
}
