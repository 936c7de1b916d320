import { decoyKeyFrom, Passkeys } from "../domain/passkey/passkeys.js";
import { passkeyHandlers } from "../handlers/passkey.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { SessionsArea } from "./sessions.js";

/** Passkeys (WebAuthn): registration and sign-in. */
export function wirePasskeys(core: Core, s: SessionsArea): { passkeys: Passkeys; handlers: Pick<ServiceHandlers, "passkey"> } {
  const { config, store, clock, audit } = core;
  const settings = { rpId: config.webauthn_rp_id, rpName: config.webauthn_rp_name, origins: config.webauthn_origins, decoyKey: decoyKeyFrom(core.masterKey) };
  const passkeys = new Passkeys({ store, clock, audit, signIn: s.signIn, settings, limiter: core.limiter });
  // Passkeys also serve the web login's passkey step (WebLogin).
  return { passkeys, handlers: { passkey: passkeyHandlers(passkeys) } };
}
