import type { ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as GrpcStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { HealthService, ServingStatus } from "../../gen/warden/health/v1/health_service_pb.js";
import { notFound } from "../domain/errors.js";
import type { Readiness } from "../readiness.js";
import { VERSION } from "../version.js";

export function healthHandlers(ready: Readiness): ServiceImpl<typeof HealthService> {
  return {
    async healthCheck() {
      const ok = await ready.check();
      return { status: ok ? ServingStatus.SERVING : ServingStatus.NOT_SERVING, version: VERSION, databaseReady: ok };
    },
  };
}

/**
 * The standard gRPC health service. "" (the server), "warden" and the full name of every served
 * service report this instance's readiness. As the spec asks, Check answers NOT_FOUND for any
 * other name, while Watch reports SERVICE_UNKNOWN and stays open.
 */
export function grpcHealthHandlers(ready: Readiness, serviceNames: string[]): ServiceImpl<typeof Health> {
  const known = new Set(["", "warden", ...serviceNames]);
  const statusOf = async (service: string) => {
    if (!known.has(service)) return GrpcStatus.SERVICE_UNKNOWN;
    return (await ready.check()) ? GrpcStatus.SERVING : GrpcStatus.NOT_SERVING;
  };
  return {
    async check(req) {
      if (!known.has(req.service)) throw notFound("NOT_FOUND", `service "${req.service}"`);
      return { status: await statusOf(req.service) };
    },
    async *watch(req, ctx) {
      let last: GrpcStatus | undefined;
      while (!ctx.signal.aborted) {
        const status = await statusOf(req.service);
        if (status !== last) yield { status };
        last = status;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 5000);
          ctx.signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
        });
      }
    },
  };
}
