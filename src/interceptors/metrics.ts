import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Metrics } from "../metrics.js";
import { whenCallEnds } from "./call-end.js";

/**
 * Calls by method and code, latency by method, calls in flight. The labelled series of a method
 * are looked up once and kept (prom-client hashes the labels at every lookup otherwise).
 */
export function metricsInterceptor(metrics: Metrics): Interceptor {
  const series = new WeakMap<DescMethod, MethodSeries>();
  const seriesOf = (method: DescMethod) => {
    let s = series.get(method);
    if (!s) {
      const name = `${method.parent.typeName}/${method.name}`;
      s = { latency: metrics.latency.labels(name), calls: new Map(), name };
      series.set(method, s);
    }
    return s;
  };
  const ended = (s: MethodSeries, started: number, err?: ConnectError) => {
    const code = err ? (Code[err.code] ?? "unknown") : "ok";
    let calls = s.calls.get(code);
    if (!calls) s.calls.set(code, (calls = metrics.calls.labels(s.name, code)));
    calls.inc();
    metrics.inFlight.dec();
    s.latency.observe((performance.now() - started) / 1000);
  };
  return (next) => async (req) => {
    const s = seriesOf(req.method);
    const started = performance.now();
    metrics.inFlight.inc();
    let res;
    try {
      res = await next(req);
    } catch (err) {
      ended(s, started, ConnectError.from(err));
      throw err;
    }
    if (!res.stream) {
      ended(s, started);
      return res;
    }
    // A server stream counts (and stays in flight) until it ends.
    return whenCallEnds(res, req.signal, (err) => ended(s, started, err));
  };
}

interface MethodSeries {
  name: string;
  latency: ReturnType<Metrics["latency"]["labels"]>;
  calls: Map<string, ReturnType<Metrics["calls"]["labels"]>>;
}
