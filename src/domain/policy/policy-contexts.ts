import type { PolicyInput } from "../../../gen/warden/policy/v1/policy_service_pb.js";
import type { Clock } from "../../clock.js";
import { unauthenticated } from "../errors.js";
import type { UserPrincipal } from "../principal.js";
import type { DeviceRow, OrganizationRow } from "../records.js";
import type { SessionManager } from "../session/session-manager.js";
import type { OrganizationStore } from "../store/organization-store.js";
import { buildPolicyInput, sessionFactsOf } from "./policy-input.js";

/** How the policy area finds a device (the device area's store implements it). */
export interface DeviceLookup {
  findById(id: string): Promise<DeviceRow | undefined>;
}

export interface PolicyContextsDeps {
  /** The live session and its user, from the session cache the authentication just filled. */
  sessions: Pick<SessionManager, "requireLive">;
  /** Cached memberships (OrgDirectory). */
  directory: Pick<OrganizationStore, "membership">;
  /** Whether a user has a confirmed second factor (cached, dropped on the bus topic `user`). */
  mfaEnrolled(userId: string): Promise<boolean>;
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
    const [{ session, user }, membership, mfaEnrolled] = await Promise.all([
      this.d.sessions.requireLive(caller.sessionId),
      this.d.directory.membership(organization.id, caller.userId),
      this.d.mfaEnrolled(caller.userId),
    ]);
    if (session.userId !== caller.userId) throw unauthenticated();
    const bound = session.deviceId ? await this.d.devices.findById(session.deviceId) : undefined;
    const device = bound && bound.organizationId === organization.id && bound.userId === caller.userId ? bound : undefined;
    const mfaAt = session.mfaAt ?? caller.mfaAt;
    const now = this.d.clock.now();
    return buildPolicyInput({
      user,
      roles: user.roles,
      orgRole: membership?.role ?? "",
      mfaEnrolled,
      organization,
      device,
      postureMaxAgeSeconds: this.d.postureMaxAgeSeconds,
      session: sessionFactsOf({ ...session, mfaAt: mfaAt ?? null }),
      request: { ip: request.ip, time: now, userAgent: request.userAgent, method: request.method },
      now,
    });
  }
}
