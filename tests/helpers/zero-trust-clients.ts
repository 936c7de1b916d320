import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { ApiKeyService } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { DeviceService } from "../../gen/warden/device/v1/device_service_pb.js";
import { MembershipService } from "../../gen/warden/org/v1/membership_service_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { OrgPolicyConfigService } from "../../gen/warden/orgpolicy/v1/org_policy_config_service_pb.js";
import { PolicyService } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import type { TestApp } from "./test-app.js";

/** The clients a zero-trust test talks through, for one test app. */
export function zeroTrustClients(t: Pick<TestApp, "client">) {
  return {
    auth: t.client(AuthService),
    orgs: t.client(OrganizationService),
    members: t.client(MembershipService),
    policies: t.client(PolicyService),
    config: t.client(OrgPolicyConfigService),
    devices: t.client(DeviceService),
    sessions: t.client(SessionService),
    keys: t.client(ApiKeyService),
  };
}
export type ZeroTrustClients = ReturnType<typeof zeroTrustClients>;
