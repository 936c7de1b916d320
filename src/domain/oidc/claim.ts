import type { Invalidation } from "../invalidation.js";
import type { UserRow } from "../records.js";
import type { ApiKeyStore } from "../store/api-key-store.js";
import type { EmailVerificationStore } from "../store/email-verification-store.js";
import type { IdentityStore } from "../store/federation-store.js";
import type { MfaStore } from "../store/mfa-store.js";
import type { PasskeyStore } from "../store/passkey-store.js";
import type { SessionStore } from "../store/session-store.js";
import type { UserStore } from "../store/user-store.js";

export interface ClaimPorts {
  users: Pick<UserStore, "update">;
  sessions: Pick<SessionStore, "revokeAllForUser">;
  passkeys: Pick<PasskeyStore, "deleteAllOf">;
  mfa: Pick<MfaStore, "deleteAllOf">;
  identities: Pick<IdentityStore, "unlinkAllOf">;
  apiKeys: Pick<ApiKeyStore, "revokeAllOfUser">;
  emailVerifications: Pick<EmailVerificationStore, "take">;
}

/**
 * Hands an account whose owner never proved its email to the person an identity provider says
 * owns that address. Whoever registered it first may have been someone else (pre-registration
 * takeover), so nothing they set up survives: the password, passkeys, second factors, other
 * linked identities, sessions and API keys go, and the address counts as verified. Runs inside
 * the caller's transaction; the caller publishes `stale` after it commits.
 */
export async function claimUnverifiedAccount(
  tx: ClaimPorts,
  user: UserRow,
  now: Date,
): Promise<{ user: UserRow; removed: Record<string, string>; stale: Invalidation[] }> {
  const claimed = await tx.users.update(user.id, { passwordHash: null, emailVerifiedAt: now }, now);
  const sessions = await tx.sessions.revokeAllForUser(user.id, "account_claimed", now);
  const passkeys = await tx.passkeys.deleteAllOf(user.id);
  const factors = await tx.mfa.deleteAllOf(user.id);
  const identities = await tx.identities.unlinkAllOf(user.id);
  const apiKeys = await tx.apiKeys.revokeAllOfUser(user.id, now);
  await tx.emailVerifications.take(user.id);
  return {
    user: claimed ?? user,
    removed: {
      password: String(!!user.passwordHash),
      sessions: String(sessions.length),
      passkeys: String(passkeys),
      mfa_factors: String(factors),
      identities: String(identities),
      api_keys: String(apiKeys.length),
    },
    stale: [
      { topic: "user", id: user.id },
      ...sessions.map((id) => ({ topic: "session" as const, id })),
      ...apiKeys.map((id) => ({ topic: "api_key" as const, id })),
    ],
  };
}
