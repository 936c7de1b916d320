import { randomUUID } from "node:crypto";
import type { Interceptor, StreamRequest, UnaryRequest } from "@connectrpc/connect";
import { ConnectError, Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { principalLabel, type Principal } from "../domain/principal.js";
import { kClientIp, kPrincipal, kRequestId } from "../context.js";
import { whenCallEnds } from "./call-end.js";

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * Outermost: gives each call an id and writes one log line per call (never headers or bodies).
 * At the default level for production (warn) a call that succeeds builds no log line at all.
 */
export function requestLogInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const given = req.header.get("x-request-id");
    const requestId = given && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    req.contextValues.set(kRequestId, requestId);
    const started = performance.now();
    let res;
    try {
      res = await next(req);
    } catch (err) {
      const ce = ConnectError.from(err);
      logCall(log, req, requestId, started, ce);
      throw ce;
    }
    res.header.set("x-request-id", requestId);
    if (!res.stream && !log.isLevelEnabled("info")) return res;
    // A server stream is logged when it ends, with how it ended.
    return whenCallEnds(res, req.signal, (err) => logCall(log, req, requestId, started, err));
  };
}

function logCall(log: Logger, req: UnaryRequest | StreamRequest, requestId: string, started: number, err?: ConnectError): void {
  const level = err && (err.code === Code.Internal || err.code === Code.Unknown) ? "error" : "info";
  if (!log.isLevelEnabled(level)) return;
  log[level](
    {
      request_id: requestId,
      method: `${req.service.typeName}/${req.method.name}`,
      code: err ? Code[err.code] : "ok",
      reason: err?.findDetails(ErrorInfoSchema)[0]?.reason,
      ms: elapsed(started),
      peer: req.contextValues.get(kClientIp),
      principal: principalId(req.contextValues.get(kPrincipal)),
    },
    "rpc",
  );
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

function principalId(p: Principal | undefined): string | undefined {
  return p ? principalLabel(p).actorId : undefined;
}
