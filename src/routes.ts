import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { AdminService } from "../gen/warden/admin/v1/admin_service_pb.js";
import { ApiKeyService } from "../gen/warden/apikey/v1/api_key_service_pb.js";
import { AuditService } from "../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../gen/warden/auth/v1/auth_service_pb.js";
import { ConnectorService } from "../gen/warden/connector/v1/connector_service_pb.js";
import { DevService } from "../gen/warden/dev/v1/dev_service_pb.js";
import { HealthService } from "../gen/warden/health/v1/health_service_pb.js";
import { MfaService } from "../gen/warden/mfa/v1/mfa_service_pb.js";
import { MembershipService } from "../gen/warden/org/v1/membership_service_pb.js";
import { OrganizationService } from "../gen/warden/org/v1/organization_service_pb.js";
import { PasskeyService } from "../gen/warden/passkey/v1/passkey_service_pb.js";
import { RoleService } from "../gen/warden/rbac/v1/role_service_pb.js";
import { ServiceAccountService } from "../gen/warden/serviceaccount/v1/service_account_service_pb.js";
import { SessionService } from "../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../gen/warden/user/v1/user_service_pb.js";
import { DeviceService } from "../gen/warden/device/v1/device_service_pb.js";
import { PolicyService } from "../gen/warden/policy/v1/policy_service_pb.js";
import { OrgPolicyConfigService } from "../gen/warden/orgpolicy/v1/org_policy_config_service_pb.js";
import { TelemetryService } from "../gen/warden/telemetry/v1/telemetry_service_pb.js";
import { CertificateAuthorityService } from "../gen/warden/ca/v1/ca_service_pb.js";
import { JoinService } from "../gen/warden/join/v1/join_service_pb.js";
import { AgentService } from "../gen/warden/agent/v1/agent_service_pb.js";
import { LockService } from "../gen/warden/lock/v1/lock_service_pb.js";
import { RecordingService } from "../gen/warden/recording/v1/recording_service_pb.js";
import { AccessRequestService } from "../gen/warden/access/v1/access_request_service_pb.js";
import { PluginService } from "../gen/warden/plugin/v1/plugin_service_pb.js";
import { NotificationService } from "../gen/warden/notification/v1/notification_service_pb.js";

/** Every service the server serves, by the name its handlers go under. */
export const SERVICE_DESCRIPTORS = {
  grpcHealth: Health,
  reflectionV1: ReflectionV1,
  reflectionV1alpha: ReflectionV1alpha,
  health: HealthService,
  auth: AuthService,
  session: SessionService,
  user: UserService,
  audit: AuditService,
  admin: AdminService,
  organization: OrganizationService,
  membership: MembershipService,
  role: RoleService,
  mfa: MfaService,
  dev: DevService,
  apiKey: ApiKeyService,
  serviceAccount: ServiceAccountService,
  passkey: PasskeyService,
  connector: ConnectorService,
  device: DeviceService,
  policy: PolicyService,
  orgPolicy: OrgPolicyConfigService,
  telemetry: TelemetryService,
  certificateAuthority: CertificateAuthorityService,
  join: JoinService,
  agent: AgentService,
  lock: LockService,
  recording: RecordingService,
  accessRequest: AccessRequestService,
  plugin: PluginService,
  notification: NotificationService,
} as const;

/** One complete implementation per service: a forgotten service or method is a type error. */
export type ServiceHandlers = { [K in keyof typeof SERVICE_DESCRIPTORS]: ServiceImpl<(typeof SERVICE_DESCRIPTORS)[K]> };

/** The services as a list; the policy check at start walks exactly this list. */
export const SERVICES: DescService[] = Object.values(SERVICE_DESCRIPTORS);

/** Server reflection, which the `reflection` setting can turn off. */
export const REFLECTION_SERVICES: DescService[] = [ReflectionV1, ReflectionV1alpha];

/** The services one server serves: all of them, but reflection when it is off. */
export function servedServices(reflection: "public" | "authenticated" | "off"): DescService[] {
  return reflection === "off" ? SERVICES.filter((s) => !REFLECTION_SERVICES.includes(s)) : SERVICES;
}

/** The single place where services are registered: those of `served`, each with its handlers. */
export function routes(handlers: ServiceHandlers, served: DescService[] = SERVICES): (router: ConnectRouter) => void {
  return (router) => {
    for (const name of Object.keys(SERVICE_DESCRIPTORS) as (keyof ServiceHandlers)[])
      if (served.includes(SERVICE_DESCRIPTORS[name])) router.service(SERVICE_DESCRIPTORS[name] as DescService, handlers[name] as ServiceImpl<DescService>);
  };
}
