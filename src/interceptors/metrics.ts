import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Metrics } from "../metrics.js";
import { whenCallEnds } from "./call-end.js";

export function metricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const end = metrics.latency.startTimer({ method });
    metrics.inFlight.inc();
    const ended = (err?: ConnectError) => {
      metrics.calls.inc({ method, code: err ? (Code[err.code] ?? "unknown") : "ok" });
      metrics.inFlight.dec();
      end();
    };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      ended(ConnectError.from(err));
      throw err;
    }
    // A server stream counts (and stays in flight) until it ends.
    return whenCallEnds(res, req.signal, ended);
  };
}
