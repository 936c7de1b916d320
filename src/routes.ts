import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { AdminService } from "../gen/warden/admin/v1/admin_service_pb.js";
import { AuditService } from "../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../gen/warden/auth/v1/auth_service_pb.js";
import { HealthService } from "../gen/warden/health/v1/health_service_pb.js";
import { SessionService } from "../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../gen/warden/user/v1/user_service_pb.js";
import { ApiKeyService } from "../gen/warden/apikey/v1/api_key_service_pb.js";
import { MembershipService } from "../gen/warden/org/v1/membership_service_pb.js";
import { OrganizationService } from "../gen/warden/org/v1/organization_service_pb.js";
import { RoleService } from "../gen/warden/rbac/v1/role_service_pb.js";
import { ServiceAccountService } from "../gen/warden/serviceaccount/v1/service_account_service_pb.js";
import { ConnectorService } from "../gen/warden/connector/v1/connector_service_pb.js";
import { PasskeyService } from "../gen/warden/passkey/v1/passkey_service_pb.js";
import { DevService } from "../gen/warden/dev/v1/dev_service_pb.js";
import { MfaService } from "../gen/warden/mfa/v1/mfa_service_pb.js";
import type { App } from "./app.js";
import { devHandlers, mfaHandlers } from "./handlers/mfa.js";
import { apiKeyHandlers, serviceAccountHandlers } from "./handlers/machine-credentials.js";
import { membershipHandlers, organizationHandlers } from "./handlers/organization.js";
import { roleHandlers } from "./handlers/role.js";
import { adminHandlers } from "./handlers/admin.js";
import { auditHandlers } from "./handlers/audit.js";
import { authHandlers } from "./handlers/auth.js";
import { connectorHandlers } from "./handlers/connector.js";
import { grpcHealthHandlers, healthHandlers } from "./handlers/health.js";
import { sessionHandlers } from "./handlers/session.js";
import { userHandlers } from "./handlers/user.js";
import { passkeyHandlers } from "./handlers/passkey.js";

/** Every service the server serves; the policy check at start walks exactly this list. */
export const SERVICES: DescService[] = [
  Health,
  HealthService,
  AuthService,
  SessionService,
  UserService,
  AuditService,
  AdminService,
  OrganizationService,
  MembershipService,
  RoleService,
  MfaService,
  DevService,
  ApiKeyService,
  ServiceAccountService,
  PasskeyService,
  ConnectorService,
];

/** The single place where services are registered. */
export function routes(app: App): (router: ConnectRouter) => void {
  return (router) => {
    router.service(Health, grpcHealthHandlers(app.readiness));
    router.service(HealthService, healthHandlers(app.readiness));
    router.service(AuthService, authHandlers(app.auth, app.federatedSignIn, app.mfaVerification));
    router.service(SessionService, sessionHandlers(app.sessionQueries, app.sessions, app.authenticator));
    router.service(UserService, userHandlers(app.userAdmin));
    router.service(AuditService, auditHandlers(app.database.db, app.auditRepo, app.audit));
    router.service(AdminService, adminHandlers({ ...app.adminDeps }));
    router.service(OrganizationService, organizationHandlers(app.organizations));
    router.service(MembershipService, membershipHandlers(app.organizations));
    router.service(MfaService, mfaHandlers(app.mfaFactors));
    router.service(DevService, devHandlers(app.devOtps));
    router.service(RoleService, roleHandlers(app.roles));
    router.service(ApiKeyService, apiKeyHandlers(app.apiKeys, app.apiKeySessions));
    router.service(ServiceAccountService, serviceAccountHandlers(app.serviceAccounts));
    router.service(PasskeyService, passkeyHandlers(app.passkeys));
    router.service(ConnectorService, connectorHandlers(app.connectors));
  };
}
