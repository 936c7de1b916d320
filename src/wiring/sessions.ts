import { SignIn } from "../domain/auth/sign-in.js";
import { SessionManager, type SessionTimeouts } from "../domain/session/session-manager.js";
import { SessionQueries } from "../domain/session/session-queries.js";
import type { Core } from "./core.js";
import type { EmailArea } from "./email.js";

export interface SessionsArea {
  timeouts: SessionTimeouts;
  sessions: SessionManager;
  signIn: SignIn;
  queries: SessionQueries;
}

/** Sessions and the one way into them (SignIn), shared by every sign-in method. */
export function wireSessions(core: Core, email: EmailArea): SessionsArea {
  const { config, store, clock, bus, audit } = core;
  const timeouts: SessionTimeouts = {
    idleSeconds: config.session_idle_timeout,
    absoluteSeconds: config.session_absolute_timeout,
    cacheTtlSeconds: config.session_cache_ttl,
  };
  const sessions = new SessionManager({ store, bus, clock, timeouts, caches: core.caches });
  const signIn = new SignIn({
    store,
    clock,
    sessions,
    tokens: core.tokens,
    audit,
    limiter: core.limiter,
    requireVerifiedEmail: config.require_verified_email_to_sign_in,
    verification: email.verification,
  });
  const queries = new SessionQueries({ store, clock, sessions, audit, timeouts });
  return { timeouts, sessions, signIn, queries };
}
