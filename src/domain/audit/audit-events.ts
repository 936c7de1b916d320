/**
 * Every audit event type Warden writes, with what it records. An entry's `eventType` must be
 * one of these, so QueryAuditEvents filters and the README name types that exist.
 */
export const AUDIT_EVENTS = {
  "auth.register": "An account was created (password sign-up, or a first federated sign-in)",
  "auth.account_claimed":
    "A verified identity provider vouched for the email of an unverified account: its password, passkeys, second factors, other identities, sessions and API keys were removed",
  "user.email_verification_sent": "A verification code and link were emailed (or could not be)",
  "user.email_verified": "A user proved their email address (or a wrong code was refused)",
  "auth.login": "A sign-in opened a session (success), or a password was refused (failure)",
  "auth.verify_credentials": "VerifyCredentials checked a password",
  "auth.backchannel":
    "A mail server asked the backchannel (Authenticate) whether a password may log in: OK, or refused (a wrong password, a second factor the protocol cannot give)",
  "backchannel.list_accounts": "A mail server listed the accounts it may see (ListAccounts)",
  "auth.mfa_challenge": "A sign-in stopped at a second-factor challenge",
  "auth.verify_mfa": "A second-factor code answered a challenge (or was refused)",
  "auth.phone_otp_sent": "An SMS code was sent for a challenge (or refused for a phone not enrolled)",
  "auth.refresh": "A refresh token was rotated",
  "auth.refresh_reuse": "A used refresh token came back; its session was revoked",
  "auth.logout": "The caller ended its session",
  "auth.change_password": "A password was changed; other sessions were revoked",
  "auth.oauth_login": "A sign-in with an OIDC ID token (Google or a connector)",
  "auth.link_identity": "An external identity was linked to the caller's account",
  "auth.passkey_login": "A passkey sign-in (or a refused assertion)",
  "passkey.register": "A passkey was added",
  "passkey.remove": "A passkey was removed",
  "passkey.clone_suspected": "A passkey's signature counter did not grow",
  "mfa.totp_enroll": "An authenticator app was enrolled (unconfirmed)",
  "mfa.totp_check": "A TOTP code was checked",
  "mfa.totp_replay": "A TOTP code was presented a second time",
  "mfa.phone_enroll": "A phone was enrolled (unconfirmed)",
  "mfa.phone_confirm": "A phone factor was confirmed (or a wrong code refused)",
  "mfa.factor_remove": "A second factor was removed",
  "mfa.recovery_codes": "New recovery codes replaced the old ones",
  "session.revoke": "A session was revoked",
  "session.revoke_all": "All sessions of a user were revoked",
  "user.bootstrap_admin": "The first administrator was created from configuration",
  "user.create": "An administrator created a user",
  "user.update": "A user's name, admin flag or roles changed",
  "user.disable": "A user was disabled (their sessions revoked)",
  "user.enable": "A user was enabled",
  "user.delete": "A user was deleted (soft)",
  "role.create": "An RBAC role was created",
  "role.update": "An RBAC role's rules changed",
  "role.delete": "An RBAC role was deleted",
  "org.create": "An organization was created",
  "org.update": "An organization's name or settings changed",
  "org.delete": "An organization was deleted (soft)",
  "org.suspend": "An organization was suspended",
  "org.resume": "An organization's suspension was lifted",
  "org.member_add": "A member was added",
  "org.member_remove": "A member was removed",
  "org.member_role": "A member's role changed",
  "api_key.create": "An API key was created",
  "api_key.revoke": "An API key was revoked",
  "api_key.rotate": "An API key was replaced by a new one",
  "service_account.create": "A service account was created",
  "service_account.update": "A service account changed",
  "service_account.delete": "A service account was deleted (its keys revoked)",
  "service_account.rotate_secret": "A service account got a new secret",
  "service_account.authenticate": "A service account traded its secret for a token (or was refused)",
  "connector.create": "An OIDC connector was added",
  "connector.delete": "An OIDC connector was removed",
  "admin.rotate_signing_key": "The token signing key was rotated",
} as const;

export type AuditEventType = keyof typeof AUDIT_EVENTS;

export function isAuditEventType(value: string): value is AuditEventType {
  return Object.hasOwn(AUDIT_EVENTS, value);
}
