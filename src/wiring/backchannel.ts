import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, ConnectRouterOptions, Interceptor } from "@connectrpc/connect";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { AuthService as NauthilusAuth } from "../../gen/nauthilus/auth/v1/auth_pb.js";
import { MailAuth } from "../domain/backchannel/mail-auth.js";
import { grpcHealthHandlers } from "../handlers/health.js";
import { nauthilusHandlers } from "../handlers/nauthilus.js";
import { reflectionHandlers } from "../handlers/reflection.js";
import { inputErrorInterceptor } from "../http/input-gate.js";
import { backchannelCallerInterceptor } from "../interceptors/backchannel-caller.js";
import { deadlineInterceptor } from "../interceptors/deadline.js";
import { errorsInterceptor } from "../interceptors/errors.js";
import { metricsInterceptor } from "../interceptors/metrics.js";
import { policyInterceptor } from "../interceptors/policy.js";
import { requestLogInterceptor } from "../interceptors/request-log.js";
import { validationInterceptor } from "../interceptors/validation.js";
import { DescriptorIndex } from "../reflection/descriptor-index.js";
import type { AccountsArea } from "./accounts.js";
import type { Core } from "./core.js";
import type { TenancyArea } from "./tenancy.js";

/** What the backchannel listener serves: its own services behind its own caller check. */
export interface BackchannelArea {
  services: DescService[];
  register(router: ConnectRouter): void;
  routerOptions: ConnectRouterOptions;
}

/** The services the backchannel listener registers (never Warden's own). */
export function backchannelServices(reflection: "public" | "authenticated" | "off"): DescService[] {
  return [NauthilusAuth, Health, ...(reflection === "public" ? [ReflectionV1, ReflectionV1alpha] : [])];
}

/**
 * The mail-server backchannel: nauthilus.auth.v1.AuthService with health and reflection, on
 * Warden's users, its password checks and its one brute-force engine.
 */
export function wireBackchannel(core: Core, a: { accounts: AccountsArea; tenancy: TenancyArea }): BackchannelArea {
  const { config, clock, log, store } = core;
  const mail = new MailAuth({
    passwords: a.accounts.passwords,
    limiter: core.limiter,
    store,
    audit: core.audit,
    locks: core.locks,
    clock,
    repeatWindowSeconds: config.login_failure_window,
  });
  // Reflection here has no authenticated mode (the callers are mail servers): public or not at all.
  const services = backchannelServices(config.reflection);
  const reflection = reflectionHandlers(new DescriptorIndex(services));
  const interceptors: Interceptor[] = [
    requestLogInterceptor(log),
    metricsInterceptor(core.metrics),
    errorsInterceptor(log),
    inputErrorInterceptor(),
    deadlineInterceptor(),
    backchannelCallerInterceptor({
      basic: config.backchannel_basic_auth_enabled
        ? { username: config.backchannel_basic_auth_username!, password: config.backchannel_basic_auth_password! }
        : undefined,
      bearer: config.backchannel_bearer_enabled,
      authenticator: a.accounts.authenticator,
      limiter: core.limiter,
    }),
    policyInterceptor({ dev: false, orgAccess: a.tenancy.orgAccess, clock }),
    validationInterceptor(),
  ];
  const handlers = {
    nauthilus: nauthilusHandlers(mail, {
      timeoutMs: config.backchannel_timeout * 1000,
      defaultLanguage: config.backchannel_default_language,
      forceDefaultLanguage: config.backchannel_force_default_language,
      maxMessageBytes: config.max_message_bytes,
    }),
    health: grpcHealthHandlers(
      core.readiness,
      services.map((s) => s.typeName),
    ),
  };
  return {
    services,
    register(router) {
      router.service(NauthilusAuth, handlers.nauthilus);
      router.service(Health, handlers.health);
      if (services.includes(ReflectionV1)) {
        router.service(ReflectionV1, reflection.v1);
        router.service(ReflectionV1alpha, reflection.v1alpha);
      }
    },
    routerOptions: {
      interceptors,
      readMaxBytes: config.max_message_bytes,
      writeMaxBytes: config.max_message_bytes,
      jsonOptions: { ignoreUnknownFields: false },
    },
  };
}
