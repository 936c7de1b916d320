import type { PolicyInput } from "../../../gen/warden/policy/v1/policy_service_pb.js";
import type { Clock } from "../../clock.js";
import { unauthenticated } from "../errors.js";
import type { UserPrincipal } from "../principal.js";
import type { DeviceRow, OrganizationRow } from "../records.js";
import type { MfaStore } from "../store/mfa-store.js";
import type { OrganizationStore } from "../store/organization-store.js";
import type { SessionStore } from "../store/session-store.js";
import type { UserStore } from "../store/user-store.js";
import { buildPolicyInput, sessionFactsOf } from "./policy-input.js";

/** How the policy area finds a device (the device area's store implements it). */
export interface DeviceLookup {
  findById(id: string): Promise<DeviceRow | undefined>;
}

export interface PolicyContextsDeps {
  store: {
    users: Pick<UserStore, "findById">;
    orgs: Pick<OrganizationStore, "membership">;
    mfa: Pick<MfaStore, "confirmedFactors">;
    sessions: Pick<SessionStore, "findById">;
  };
  devices: DeviceLookup;
  clock: Clock;
  /** device_posture_max_age, in seconds. */
  postureMaxAgeSeconds: number;
}

/**
 * The input a signed-in user's own context gives, in one organization: the user, their system
 * roles and organization role, whether they enrolled a second factor, the session (methods,
 * MFA age, age) and the device it is bound to (when it belongs to this organization and user).
 */
export class PolicyContexts {
  constructor(private readonly d: PolicyContextsDeps) {}

  async forUser(
    caller: Pick<UserPrincipal, "userId" | "sessionId" | "mfaAt">,
    organization: Pick<OrganizationRow, "id" | "tier">,
    request: { ip: string; userAgent: string; method: string },
  ): Promise<PolicyInput> {
    const [user, membership, factors, session] = await Promise.all([
      this.d.store.users.findById(caller.userId),
      this.d.store.orgs.membership(organization.id, caller.userId),
      this.d.store.mfa.confirmedFactors(caller.userId),
      this.d.store.sessions.findById(caller.sessionId),
    ]);
    if (!user || !session || session.userId !== caller.userId) throw unauthenticated();
    const bound = session.deviceId ? await this.d.devices.findById(session.deviceId) : undefined;
    const device = bound && bound.organizationId === organization.id && bound.userId === caller.userId ? bound : undefined;
    const mfaAt = session.mfaAt ?? caller.mfaAt;
    const now = this.d.clock.now();
    return buildPolicyInput({
      user,
      roles: user.roles,
      orgRole: membership?.role ?? "",
      mfaEnrolled: factors.length > 0,
      organization,
      device,
      postureMaxAgeSeconds: this.d.postureMaxAgeSeconds,
      session: sessionFactsOf({ ...session, mfaAt: mfaAt ?? null }),
      request: { ip: request.ip, time: now, userAgent: request.userAgent, method: request.method },
      now,
    });
  }
}
