/**
 * What each interceptor costs per unary call (issue 15), measured in this process with no
 * network: a call of HealthCheck (public) and of ValidateSession (a user's bearer token) goes
 * through the fast path's composed chain, once with every interceptor and once without each in
 * turn; an interceptor's cost is the difference. Run: npx tsx bench/interceptor-costs.ts
 * (BENCH_CALLS sets the calls per measurement, 20000 by default).
 */
import { create } from "@bufbuild/protobuf";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { createContextValues, type Interceptor } from "@connectrpc/connect";
import { HealthCheckRequestSchema, HealthService } from "../gen/warden/health/v1/health_service_pb.js";
import { SessionService, ValidateSessionRequestSchema } from "../gen/warden/session/v1/session_service_pb.js";
import { kClientIp } from "../src/context.js";
import { FastCall } from "../src/http/fast/fast-call.js";
import { fastMethods, FastRequest, type FastMethod } from "../src/http/fast/fast-methods.js";
import { NodeRequestHeaders } from "../src/http/fast/light-headers.js";
import { shutdownStatusInterceptor } from "../src/http/shutdown-status.js";
import { routes } from "../src/routes.js";
import { adminLogin } from "../tests/helpers/accounts.js";
import { createTestApp } from "../tests/helpers/test-app.js";

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const NAMES = ["request-log", "metrics", "errors", "input-error", "deadline", "call-timeout", "rate-limit", "authn", "policy", "validation", "shutdown-status"];

const t = await createTestApp({ log_level: "warn" });
const token = (await adminLogin(t)).accessToken;
const shutdown = new AbortController().signal;
const chainOf = (interceptors: Interceptor[]) =>
  fastMethods(routes(t.app.handlers, t.app.services), {
    maxMessageBytes: t.app.config.max_message_bytes,
    maxPublicMessageBytes: t.app.config.max_public_message_bytes,
    interceptors,
    acceptCompression: [],
  });
const all = [...t.app.interceptors, shutdownStatusInterceptor(shutdown)];
if (all.length !== NAMES.length) throw new Error(`the app has ${all.length} interceptors; this bench names ${NAMES.length}`);

/** The best of three runs: other work on the machine only ever adds time. */
async function bestNs(methods: Map<string, FastMethod>, method: DescMethod, message: unknown, headers: Record<string, string>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 3; i++) best = Math.min(best, await perCallNs(methods, method, message, headers));
  return best;
}

async function perCallNs(methods: Map<string, FastMethod>, method: DescMethod, message: unknown, headers: Record<string, string>): Promise<number> {
  const entry = methods.get(`/${(method.parent as DescService).typeName}/${method.name}`)!;
  const once = async () => {
    const values = createContextValues().set(kClientIp, "127.0.0.1");
    const call = new FastCall(
      method,
      new NodeRequestHeaders(headers),
      values,
      { secure: false, authority: "bench", path: "/" },
      "grpc",
      "application/grpc+proto",
      shutdown,
      undefined,
    );
    await entry.invoke(new FastRequest(call, message as never));
  };
  for (let i = 0; i < CALLS / 4; i++) await once();
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) await once();
  return Number(process.hrtime.bigint() - started) / CALLS;
}

const cases = [
  { name: "HealthCheck", method: HealthService.method.healthCheck, message: create(HealthCheckRequestSchema), headers: {} as Record<string, string> },
  {
    name: "ValidateSession",
    method: SessionService.method.validateSession,
    message: create(ValidateSessionRequestSchema),
    headers: { authorization: `Bearer ${token}` },
  },
];
console.log(`ns per call, ${CALLS} calls each, in process (no network, no encoding)`);
for (const c of cases) {
  const full = await bestNs(chainOf(all), c.method, c.message, c.headers);
  // ValidateSession's handler needs the caller authn establishes: it never runs without it.
  const needsAuthn = c.name !== "HealthCheck";
  const alone = needsAuthn ? undefined : await bestNs(chainOf([]), c.method, c.message, c.headers);
  console.log(`\n${c.name}: whole chain ${full.toFixed(0)} ns${alone === undefined ? "" : `, handler alone ${alone.toFixed(0)} ns`}`);
  for (let i = 0; i < all.length; i++) {
    if (needsAuthn && NAMES[i] === "authn") {
      console.log(`  ${NAMES[i]!.padEnd(16)}      - (the handler needs it)`);
      continue;
    }
    const without = await bestNs(chainOf(all.filter((_, j) => j !== i)), c.method, c.message, c.headers);
    console.log(`  ${NAMES[i]!.padEnd(16)} ${(full - without).toFixed(0).padStart(6)} ns`);
  }
}
await t.close();
