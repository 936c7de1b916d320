import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Metrics } from "../metrics.js";

export function metricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const end = metrics.latency.startTimer({ method });
    metrics.inFlight.inc();
    try {
      const res = await next(req);
      metrics.calls.inc({ method, code: "ok" });
      return res;
    } catch (err) {
      metrics.calls.inc({ method, code: Code[ConnectError.from(err).code] ?? "unknown" });
      throw err;
    } finally {
      metrics.inFlight.dec();
      end();
    }
  };
}
