import { Code, ConnectError, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";

/**
 * Calls `ended` once, when the call is over: a unary call when its answer is ready, a server
 * stream when its last message went out, it failed, or the client left. Without this a stream
 * would count as done (and OK) the moment it opened. A stream that ended quietly because its
 * call was aborted ends DEADLINE_EXCEEDED when its deadline passed, CANCELED otherwise.
 */
export function whenCallEnds<R extends StreamResponse | UnaryResponse>(res: R, signal: AbortSignal, ended: (err?: ConnectError) => void): R {
  if (!res.stream) {
    ended();
    return res;
  }
  const messages = res.message;
  return {
    ...res,
    message: (async function* () {
      let outcome: ConnectError | undefined = new ConnectError("the client went away", Code.Canceled);
      try {
        yield* messages;
        outcome = signal.aborted ? abortOutcome(signal.reason) : undefined;
      } catch (err) {
        outcome = ConnectError.from(err);
        throw err;
      } finally {
        ended(outcome);
      }
    })(),
  };
}

/** A client that leaves resets its stream, which connect-node reports with the reset's code (INTERNAL, say): it is a cancel. */
function abortOutcome(reason: unknown): ConnectError {
  const err = ConnectError.from(reason);
  return err.code === Code.DeadlineExceeded ? err : new ConnectError("the client went away", Code.Canceled, undefined, undefined, err);
}

/** A server stream that, once its messages are all out, ends with the error `check` returns, if any. */
export function checkedAtStreamEnd<R extends StreamResponse | UnaryResponse>(res: R, check: () => ConnectError | undefined): R {
  if (!res.stream) return res;
  const messages = res.message;
  return {
    ...res,
    message: (async function* () {
      yield* messages;
      const err = check();
      if (err) throw err;
    })(),
  };
}
