import type { UserPrincipal } from "../principal.js";
import type { SessionManager } from "../session/session-manager.js";
import type { DeviceStore } from "../store/device-store.js";
import { sessionFactsOf } from "../policy/policy-input.js";
import type { RequestMeta } from "./request-meta.js";
import type { ZeroTrustGate } from "./zero-trust-gate.js";

/**
 * The gate for one user call (an organization method, or one that sets evaluate_policies): the session and
 * user come from the session cache the authentication just filled, the device from its binding.
 */
export function callPolicies(sessions: Pick<SessionManager, "requireLive">, gate: Pick<ZeroTrustGate, "check">, devices: Pick<DeviceStore, "findById">) {
  return async (caller: UserPrincipal, organizationId: string | undefined, request: RequestMeta & { method: string }): Promise<void> => {
    const { session, user } = await sessions.requireLive(caller.sessionId);
    const device = session.deviceId ? await devices.findById(session.deviceId) : undefined;
    await gate.check({
      user,
      phase: "call",
      device,
      session: sessionFactsOf(session),
      request,
      organizationId,
    });
  };
}
