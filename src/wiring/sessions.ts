import { SignIn } from "../domain/auth/sign-in.js";
import { SessionManager, type SessionTimeouts } from "../domain/session/session-manager.js";
import { SessionQueries } from "../domain/session/session-queries.js";
import { SshSessions } from "../domain/agent/ssh-sessions.js";
import type { Core } from "./core.js";
import type { EmailArea } from "./email.js";
import { ZeroTrustGate } from "../domain/auth/zero-trust-gate.js";
import { PolicyContexts } from "../domain/policy/policy-contexts.js";
import { OrgSessionLimits } from "../domain/session/session-limits.js";
import type { OrgPolicyArea } from "./org-policy.js";
import type { PolicyArea } from "./policies.js";

export interface SessionsArea {
  timeouts: SessionTimeouts;
  sessions: SessionManager;
  signIn: SignIn;
  queries: SessionQueries;
  /** Organizations' device rules and access policies, at sign-in, refresh and flagged calls. */
  gate: ZeroTrustGate;
  /** A signed-in user's own policy input (EvaluatePolicy without an input). */
  contexts: PolicyContexts;
  /** The SSH sessions agents report (heartbeats write them; SessionService lists and revokes them). */
  ssh: SshSessions;
}

/**
 * Sessions and the one way into them (SignIn), shared by every sign-in method, with the
 * zero-trust gate every sign-in and refresh passes and the organizations' session limits.
 */
export function wireSessions(core: Core, email: EmailArea, zeroTrust: { orgPolicy: OrgPolicyArea; policies: PolicyArea }): SessionsArea {
  const { config, store, clock, bus, audit } = core;
  const timeouts: SessionTimeouts = {
    idleSeconds: config.session_idle_timeout,
    absoluteSeconds: config.session_absolute_timeout,
    cacheTtlSeconds: config.session_cache_ttl,
  };
  const limits = new OrgSessionLimits({ store, settings: zeroTrust.orgPolicy.reader, bus, caches: core.caches, cacheTtlSeconds: config.session_cache_ttl });
  const sessions = new SessionManager({ store, bus, clock, timeouts, caches: core.caches, limits });
  const enrolments = core.caches.create<string, boolean>("mfa_enrolled", { ttlSeconds: config.session_cache_ttl });
  // Factors confirmed or removed publish the user's topic.
  bus.on("user", (userId) => enrolments.delete(userId));
  const mfaEnrolled = (userId: string) => enrolments.getOrLoad(userId, async () => (await store.mfa.confirmedFactors(userId)).length > 0);
  const gate = new ZeroTrustGate({
    store,
    directory: core.orgDirectory,
    mfaEnrolled,
    clock,
    settings: zeroTrust.orgPolicy.reader,
    policies: zeroTrust.policies.evaluator,
    audit,
    postureMaxAgeSeconds: config.device_posture_max_age,
  });
  const signIn = new SignIn({
    store,
    clock,
    sessions,
    tokens: core.tokens,
    audit,
    limiter: core.limiter,
    requireVerifiedEmail: config.require_verified_email_to_sign_in,
    verification: email.verification,
    gate,
    devices: store.devices,
    locks: core.locks,
  });
  const ssh = new SshSessions({
    store,
    bus,
    clock,
    audit,
    caches: core.caches,
    // A getter: UpdateClusterConfig changes it at run time.
    get offlineAfterSeconds() {
      return core.cluster.settings().nodeOfflineAfter;
    },
  });
  const queries = new SessionQueries({ store, clock, sessions, audit, timeouts, ssh });
  const contexts = new PolicyContexts({
    sessions,
    directory: core.orgDirectory,
    mfaEnrolled,
    devices: store.devices,
    clock,
    postureMaxAgeSeconds: config.device_posture_max_age,
  });
  return { timeouts, sessions, signIn, queries, gate, contexts, ssh };
}
