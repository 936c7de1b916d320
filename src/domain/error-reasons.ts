/** The canonical code an error leaves with, in the domain's words. */
export type ErrorKind =
  | "invalid_argument"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "resource_exhausted"
  | "unavailable"
  | "unimplemented"
  | "deadline_exceeded"
  | "canceled"
  | "internal"
  | "unknown"
  | "aborted"
  | "out_of_range"
  | "data_loss";

interface ReasonEntry {
  /** The codes this reason is sent with (most have one). */
  kinds: readonly ErrorKind[];
  /** What it means, for the README's table. */
  meaning: string;
}

const r = <K extends ErrorKind>(kinds: readonly K[], meaning: string) => ({ kinds, meaning }) as { kinds: readonly K[]; meaning: string };

/**
 * Every google.rpc.ErrorInfo reason Warden sends (domain `warden`): stable UPPER_SNAKE names that
 * clients may branch on. README.md's reason table is checked against this list by a test.
 */
export const ERROR_REASONS = {
  // Input
  INVALID_ARGUMENT: r(["invalid_argument"], "A field is malformed or out of range; field violations name it"),
  EMAIL_INVALID: r(["invalid_argument"], "The email address is not valid"),
  PASSWORD_LENGTH: r(["invalid_argument"], "The password is shorter than 8 or longer than 128 characters"),
  PASSWORD_TOO_WEAK: r(["invalid_argument"], "The password is common or easy to guess"),
  CURRENT_PASSWORD_WRONG: r(["invalid_argument"], "ChangePassword: the current password is not correct"),
  PHONE_INVALID: r(["invalid_argument"], "The phone number is not in E.164 form"),
  MFA_CODE_INVALID: r(["invalid_argument", "unauthenticated"], "The second-factor code is wrong, used or expired"),
  EMAIL_CODE_INVALID: r(["invalid_argument"], "The email verification code or link is wrong, used or expired"),
  ROLE_UNKNOWN: r(["invalid_argument"], "A role named in the request does not exist"),
  CONNECTOR_ID_RESERVED: r(["invalid_argument"], "The connector id `google` belongs to the built-in provider"),
  CLUSTER_NAME_FIXED: r(["failed_precondition"], "The cluster name is in every certificate already issued; it is set with the cluster_name setting"),
  RESERVED_RPC: r(["unimplemented"], "The method is part of the published contract but not built yet (plugins)"),
  CONNECTOR_URL_INVALID: r(["invalid_argument"], "A connector URL is not https (or loopback http), or carries credentials or a fragment"),
  PASSKEY_REGISTRATION_INVALID: r(["invalid_argument"], "The passkey registration response could not be verified"),
  WEBAUTHN_RESPONSE_INVALID: r(["invalid_argument"], "The WebAuthn response JSON is malformed"),
  PUBLIC_KEY_INVALID: r(["invalid_argument"], "The device key is not a PEM SubjectPublicKeyInfo of an Ed25519 or P-256 key"),
  POLICY_INVALID: r(["invalid_argument"], "The policy does not compile or type-check (the message names line and column)"),
  POLICY_INPUT_INVALID: r(["invalid_argument"], "EvaluatePolicy's input is not a PolicyInput document"),
  URL_INVALID: r(["invalid_argument"], "The URL (or URL rule) cannot be parsed"),
  TELEMETRY_EVENT_INVALID: r(["invalid_argument"], "A telemetry event is malformed (time out of range, attributes too large, posture missing)"),
  MESSAGE_TOO_LARGE: r(["resource_exhausted"], "The request is larger than the read limit"),
  RECORDING_TOO_LARGE: r(["resource_exhausted"], "The session recording, or one chunk of it, is larger than recording_max_bytes or recording_max_chunk_bytes"),

  // Credentials
  UNAUTHENTICATED: r(["unauthenticated"], "No credential was presented, or it is not valid"),
  AUTHORIZATION_MALFORMED: r(["unauthenticated"], "The authorization header is not `Bearer <token>`"),
  INVALID_CREDENTIALS: r(["unauthenticated"], "Wrong email or password (the same answer for an unknown email)"),
  USER_DISABLED: r(["unauthenticated"], "The account is disabled or deleted"),
  TOKEN_MALFORMED: r(["unauthenticated"], "The bearer token is not a JWT"),
  TOKEN_ALGORITHM: r(["unauthenticated"], "The token's algorithm is not the one this server signs with"),
  TOKEN_HEADER: r(["unauthenticated"], "The token names its own key (jku, jwk, x5u, x5c) or carries crit"),
  TOKEN_KEY_UNKNOWN: r(["unauthenticated"], "The token's key id is unknown or retired"),
  TOKEN_EXPIRED: r(["unauthenticated"], "The token has expired"),
  TOKEN_NOT_YET_VALID: r(["unauthenticated"], "The token is not valid yet"),
  TOKEN_INVALID: r(["unauthenticated"], "The token's signature, issuer, audience or claims are not valid"),
  TOKEN_TYPE: r(["unauthenticated"], "A token of another type (for example a refresh token) was presented"),
  SESSION_MALFORMED: r(["unauthenticated"], "The session bearer is not `wds_<id>.<secret>`"),
  SESSION_NOT_FOUND: r(["unauthenticated", "not_found"], "No such session"),
  SESSION_REVOKED: r(["unauthenticated"], "The session was ended (logout, revocation, password change, refresh-token reuse)"),
  SESSION_EXPIRED: r(["unauthenticated"], "The session reached its absolute lifetime"),
  SESSION_IDLE_TIMEOUT: r(["unauthenticated"], "The session was idle for too long"),
  REFRESH_TOKEN_INVALID: r(["unauthenticated"], "The refresh token is unknown"),
  REFRESH_TOKEN_REUSED: r(["unauthenticated"], "The refresh token was used before; its session is now revoked"),
  DEVICE_PROOF_INVALID: r(["unauthenticated"], "The device challenge is unknown, used or expired, or the signature does not verify"),
  DEVICE_PROOF_REQUIRED: r(["unauthenticated"], "The session is bound to a device: refresh needs a device_proof"),
  MFA_CHALLENGE_INVALID: r(["unauthenticated"], "The MFA challenge is unknown, used or expired"),
  API_KEY_INVALID: r(["unauthenticated"], "The API key is unknown or malformed"),
  API_KEY_REVOKED: r(["unauthenticated", "failed_precondition"], "The API key was revoked (or rotated and its overlap is over)"),
  API_KEY_EXPIRED: r(["unauthenticated"], "The API key has expired"),
  OWNER_DISABLED: r(["unauthenticated"], "The user or service account that owns the key is disabled"),
  OWNER_NOT_MEMBER: r(["unauthenticated"], "The user who owns the key is no longer a member of its organization"),
  ORGANIZATION_DELETED: r(["unauthenticated"], "The credential's organization was deleted"),
  INVALID_CLIENT_CREDENTIALS: r(["unauthenticated"], "Wrong service-account client id or secret"),
  SERVICE_ACCOUNT_DELETED: r(["unauthenticated"], "The service account no longer exists"),
  SERVICE_ACCOUNT_DISABLED: r(["unauthenticated"], "The service account is disabled"),
  SERVICE_ACCOUNT_SECRET_ROTATED: r(["unauthenticated"], "The service account's secret was rotated after this token was issued"),
  PASSKEY_AUTHENTICATION_FAILED: r(["unauthenticated"], "The passkey assertion was not accepted"),
  PASSKEY_CHALLENGE_INVALID: r(["unauthenticated", "failed_precondition"], "The WebAuthn challenge is unknown, used or expired"),
  PASSKEY_COUNTER_REGRESSED: r(["unauthenticated"], "The passkey's signature counter did not grow (possible clone; audited)"),
  OAUTH_TOKEN_INVALID: r(["unauthenticated"], "The ID token is malformed or its signature or claims are not valid"),
  OAUTH_TOKEN_EXPIRED: r(["unauthenticated"], "The ID token has expired"),
  OAUTH_TOKEN_NOT_YET_VALID: r(["unauthenticated"], "The ID token is not valid yet"),
  OAUTH_TOKEN_WRONG_AUDIENCE: r(["unauthenticated"], "The ID token was issued to another client"),
  OAUTH_TOKEN_WRONG_ISSUER: r(["unauthenticated"], "The ID token comes from another issuer"),
  OAUTH_EMAIL_MISSING: r(["unauthenticated"], "The ID token carries no usable email"),
  OAUTH_EMAIL_NOT_VERIFIED: r(["unauthenticated"], "The identity provider has not verified the email"),
  JOIN_TOKEN_INVALID: r(["unauthenticated"], "The join token is unknown or was deleted"),
  JOIN_TOKEN_EXPIRED: r(["unauthenticated"], "The join token has expired"),
  JOIN_TOKEN_USED_UP: r(["unauthenticated"], "The join token has no use left (or every use is bound to another host)"),
  AGENT_CREDENTIAL_INVALID: r(["unauthenticated"], "x-agent-id and the agent token do not name one registered agent"),
  AGENT_IDENTITY_TOKEN_INVALID: r(["unauthenticated"], "The bootstrap or renewal token is unknown, expired, or its identity was deleted"),
  AGENT_IDENTITY_TOKEN_REUSED: r(["unauthenticated"], "The renewal (or bootstrap) token was used before: the identity is now locked"),
  IAM_PROOF_INVALID: r(["unauthenticated"], "The signed STS request is malformed, lacks the signed challenge header, or STS refused its signature"),
  SPIFFE_SVID_INVALID: r(["unauthenticated"], "The SVID does not chain to the trust bundle, is expired or not yet valid, or has not exactly one SPIFFE ID"),
  SPIFFE_CHALLENGE_INVALID: r(["unauthenticated"], "The SPIFFE challenge is unknown, used or expired, or the signature does not verify with the SVID's key"),

  // Access
  PERMISSION_DENIED: r(["permission_denied"], "The caller may not do this"),
  NO_POLICY: r(["permission_denied"], "The method has no usable access policy (never served)"),
  PERMISSION_REQUIRED: r(["permission_denied"], "The caller's roles do not allow the method's permission (metadata: resource, verb)"),
  INSUFFICIENT_SCOPE: r(["permission_denied"], "The API key or service account lacks the scope the method needs"),
  USER_SESSION_REQUIRED: r(["permission_denied"], "The method needs a signed-in user, not a machine credential"),
  CA_ROTATION_OUT_OF_ORDER: r(["failed_precondition"], "RotateCA asked for a phase that does not follow the current one"),
  AUDIT_ARCHIVE_NOT_PREFIX: r(
    ["failed_precondition"],
    "ArchiveAuditEvents: the time range is not the oldest part of the live chain (it starts after the oldest event, or a newer event comes before an older one)",
  ),
  AUDIT_ARCHIVE_EMPTY: r(["failed_precondition"], "ArchiveAuditEvents: no live event lies in the time range"),
  AUDIT_ARCHIVE_MISMATCH: r(
    ["failed_precondition"],
    "ArchiveAuditEvents: confirm_sha256 is not the SHA-256 of the archive the range gives now (export again, store that file, confirm its hash)",
  ),
  AUDIT_CHAIN_BROKEN: r(["failed_precondition"], "ArchiveAuditEvents: the range does not verify (VerifyAuditChain says why); nothing was deleted"),
  SSH_LOGINS_REQUIRED: r(["permission_denied"], "None of the caller's roles grants an SSH login, so no certificate can be issued"),
  ROLE_ASSIGNMENT_REQUIRED: r(["permission_denied"], "Granting roles, or acting on a user who holds roles, needs the role/assign permission"),
  ORGANIZATION_ROLE_REQUIRED: r(["permission_denied"], "The caller's role in the organization is too low (or it is not a member)"),
  ORGANIZATION_SUSPENDED: r(["permission_denied", "unauthenticated"], "The organization is suspended"),
  OWNER_REQUIRED: r(["permission_denied"], "Only an owner may grant or change the owner role"),
  NOT_OWN_SESSION: r(["permission_denied"], "Another user's sessions need the session permissions"),
  API_KEY_ACCESS_DENIED: r(["permission_denied"], "Only the key's owner or an organization admin may manage it"),
  POLICY_DENIED: r(["permission_denied"], "An access policy of the organization denies this (metadata: policy_id, policy_name)"),
  DEVICE_REQUIRED: r(["permission_denied"], "The organization requires sign-in from a registered device (send a device_proof)"),
  DEVICE_NOT_TRUSTED: r(["permission_denied"], "The organization requires a trusted device"),
  DEVICE_REVOKED: r(["permission_denied", "unauthenticated"], "The device was revoked"),
  DEVICE_ACCESS_DENIED: r(["permission_denied"], "Only the device's owner or an organization admin may do this"),
  PASSKEY_NOT_OWNED: r(["permission_denied"], "No such passkey among the caller's"),
  AGENT_IDENTITY_LOCKED: r(["permission_denied"], "The agent identity is locked (a renewal token was reused); an admin must make a new one"),
  LOCKED: r(["permission_denied"], "An admin's lock covers the caller (user, role, node, device, agent identity, every login asked); its message says why"),
  IAM_IDENTITY_NOT_ALLOWED: r(["permission_denied"], "The AWS account or ARN that STS returned matches none of the join token's rules"),
  SPIFFE_ID_NOT_MAPPED: r(["permission_denied"], "No spiffe_role_map rule maps this SPIFFE ID to a role"),
  HOST_KEY_MISMATCH: r(["permission_denied"], "RenewNodeCertificates: the host key is not the one the node joined with"),
  CSRF_TOKEN_INVALID: r(["permission_denied"], "A call signed in by the session cookie carries no x-csrf-token of that session"),
  JOIN_TOKEN_HOST_MISMATCH: r(["permission_denied"], "The join token is bound to other hosts' keys (GenerateHostCerts) than this one"),
  ACCESS_REQUEST_ROLE_NOT_REQUESTABLE: r(["permission_denied"], "None of the caller's roles lists the requested role in its request_roles"),
  ACCESS_REQUEST_NODE_NOT_REQUESTABLE: r(
    ["permission_denied"],
    "No role among the caller's roles' request_roles reaches the requested node by its node_labels (or there is no such node)",
  ),
  ACCESS_REQUEST_REVIEW_NOT_ALLOWED: r(
    ["permission_denied"],
    "The reviewer's roles' review_roles do not cover every role of the request, or no reviewable role reaches one of its nodes",
  ),
  ACCESS_REQUEST_SELF_REVIEW: r(["permission_denied"], "Nobody reviews their own access request"),
  RECORDING_READ_NOT_ALLOWED: r(["permission_denied"], "The caller may read recordings of some nodes (recording/read_reachable), not of this recording's node"),

  // State
  NOT_FOUND: r(["not_found"], "The named thing does not exist"),
  USER_NOT_FOUND: r(["not_found"], "No such user"),
  ROLE_NOT_FOUND: r(["not_found"], "No such role"),
  ACCESS_REQUEST_NOT_FOUND: r(["not_found"], "No such access request (or not one the caller may see)"),
  ORGANIZATION_NOT_FOUND: r(["not_found"], "No such organization"),
  MEMBER_NOT_FOUND: r(["not_found"], "The user is not a member of the organization"),
  API_KEY_NOT_FOUND: r(["not_found"], "No such API key"),
  SERVICE_ACCOUNT_NOT_FOUND: r(["not_found"], "No such service account in the organization"),
  DEVICE_NOT_FOUND: r(["not_found"], "No such device"),
  NODE_NOT_FOUND: r(["not_found"], "No such registered node"),
  AGENT_IDENTITY_NOT_FOUND: r(["not_found"], "No such agent identity"),
  AGENT_IDENTITY_EXISTS: r(["already_exists"], "An agent identity with this name exists"),
  POLICY_NOT_FOUND: r(["not_found"], "No such policy in the organization"),
  FACTOR_NOT_FOUND: r(["not_found"], "No such second factor among the caller's"),
  CONNECTOR_NOT_FOUND: r(["not_found"], "No such connector"),
  RECORDING_NOT_FOUND: r(["not_found"], "No such complete session recording"),
  CODE_NOT_FOUND: r(["not_found"], "Dev mode: no code was sent to this phone"),
  AUDIT_CHECKPOINT_NOT_FOUND: r(["not_found"], "No audit checkpoint has been signed yet"),
  EMAIL_TAKEN: r(["already_exists"], "An account with this email exists"),
  LOGIN_ALIAS_TAKEN: r(["already_exists"], "Another account has this login alias"),
  ALREADY_MEMBER: r(["already_exists"], "The user is a member already"),
  DEVICE_ALREADY_REGISTERED: r(["already_exists"], "This key is registered already in the organization"),
  POLICY_EXISTS: r(["already_exists"], "A policy with this name exists in the organization"),
  ROLE_EXISTS: r(["already_exists"], "A role with this name exists"),
  CONNECTOR_EXISTS: r(["already_exists"], "A connector with this id exists"),
  CONNECTOR_ISSUER_EXISTS: r(["already_exists"], "A connector for this issuer exists"),
  IDENTITY_LINKED_ELSEWHERE: r(["already_exists"], "The external identity is linked to another account"),
  PASSKEY_ALREADY_REGISTERED: r(["already_exists"], "This passkey is registered already"),
  MFA_REQUIRED: r(["failed_precondition"], "A (fresh) second factor is needed first; metadata may carry the challenge id"),
  EMAIL_NOT_VERIFIED: r(["failed_precondition"], "The account's email must be verified first (a verification email was sent again)"),
  EMAIL_ALREADY_VERIFIED: r(["failed_precondition"], "The email is verified already"),
  LAST_OWNER: r(["failed_precondition"], "An organization must keep at least one live owner"),
  CANNOT_DEMOTE_SELF: r(["failed_precondition"], "An administrator cannot remove their own admin role"),
  CANNOT_DISABLE_SELF: r(["failed_precondition"], "An administrator cannot disable their own account"),
  CANNOT_DELETE_SELF: r(["failed_precondition"], "An administrator cannot delete their own account"),
  ACCESS_REQUEST_ROLE_HELD: r(["failed_precondition"], "The caller holds the requested role already (or an approved request grants it)"),
  ACCESS_REQUEST_NODE_REACHABLE: r(["failed_precondition"], "The caller's roles reach the requested node already"),
  ACCESS_REQUEST_ALREADY_REVIEWED: r(["failed_precondition"], "The reviewer has reviewed this request already: a reviewer counts once"),
  ACCESS_REQUEST_NOT_PENDING: r(["failed_precondition"], "The access request is decided, cancelled or expired: it takes no more reviews"),
  ACCESS_REQUEST_NOT_CANCELLABLE: r(["failed_precondition"], "Only a pending or approved (unexpired) request can be cancelled"),
  RECORDING_OFFSET_MISMATCH: r(
    ["failed_precondition"],
    "A recording chunk does not start at the next offset expected (ErrorInfo metadata next_offset), or differs from the bytes stored there",
  ),
  RECORDING_COMPLETE: r(["failed_precondition"], "The session recording is complete: it cannot be written again"),
  RECORDING_SESSION_MISMATCH: r(["failed_precondition"], "The recording's session names a different user, login or start than the one stored"),
  RECORDING_CHECKSUM_MISMATCH: r(
    ["failed_precondition"],
    "The recording's SHA-256 does not match the bytes stored: they were discarded, send the recording again from 0",
  ),
  CANNOT_LOCK_SELF: r(["failed_precondition"], "A lock may not cover the admin who makes it (their user or a role they hold)"),
  ROLE_BUILTIN: r(["failed_precondition"], "Built-in roles cannot be changed or deleted"),
  FACTOR_CONFIRMED: r(["failed_precondition"], "The factor is confirmed already"),
  NO_TOTP_FACTOR: r(["failed_precondition"], "The caller has no confirmed authenticator"),
  NO_MFA_FACTOR: r(["failed_precondition"], "Set up an authenticator or phone first"),
  API_KEY_ALREADY_ROTATED: r(["failed_precondition"], "The key was rotated or revoked already"),
  DEVICE_LIMIT_REACHED: r(["failed_precondition"], "The user has the most devices the organization allows"),
  CONFIG_VERSION_MISMATCH: r(["aborted"], "The organization's policy config changed since expected_version"),
  PASSKEY_LIMIT_REACHED: r(["failed_precondition"], "The account has the most passkeys allowed"),
  GOOGLE_NOT_CONFIGURED: r(["failed_precondition"], "Google sign-in is off (no client ids configured)"),
  HS256_KEY_FROM_CONFIG: r(["failed_precondition"], "The HS256 secret comes from configuration and is rotated there"),
  SPIFFE_NOT_CONFIGURED: r(["failed_precondition"], "SPIFFE is off: no spiffe_trust_bundle_file and spiffe_trust_domain are configured"),
  JOIN_METHOD_MISMATCH: r(["failed_precondition"], "The join token is for another join method (token or IAM)"),
  ORGANIZATION_LIMIT: r(["resource_exhausted"], "The user has created the most organizations allowed"),
  TELEMETRY_RATE_LIMITED: r(["resource_exhausted"], "The organization sent more telemetry events than its per-minute limit"),
  ACCESS_REQUEST_LIMIT: r(["resource_exhausted"], "The user has the most pending access requests allowed (10); cancel one or wait for reviews"),
  RATE_LIMITED: r(["resource_exhausted"], "Too many attempts; retry after the `retry-after` seconds"),

  // Faults and transport
  DATABASE_UNAVAILABLE: r(["unavailable"], "The database cannot be reached; nothing was done"),
  RATE_LIMITER_UNAVAILABLE: r(["unavailable"], "The brute-force counters (Redis) cannot be reached; credential calls fail closed"),
  SMS_UNAVAILABLE: r(["unavailable"], "The SMS code could not be sent"),
  MAIL_UNAVAILABLE: r(["unavailable"], "The email could not be sent"),
  STS_UNAVAILABLE: r(["unavailable"], "The STS endpoint did not answer (in time); the IAM join is refused"),
  OAUTH_JWKS_UNAVAILABLE: r(["unavailable"], "The identity provider's keys cannot be fetched"),
  OAUTH_SIGN_IN_CONFLICT: r(["unavailable"], "A concurrent sign-in changed the account; try again"),
  UNAVAILABLE: r(["unavailable"], "The server is draining or a dependency is down"),
  SERVER_TIMEOUT: r(["unavailable"], "The call took longer than call_timeout: a dependency (usually the database) is not answering"),
  DEADLINE_EXCEEDED: r(["deadline_exceeded"], "The client's deadline passed"),
  CANCELED: r(["canceled"], "The client cancelled the call"),
  DEV_MODE_OFF: r(["unimplemented"], "A development-only method, and dev mode is off"),
  UNIMPLEMENTED: r(["unimplemented"], "No such method"),
  ALREADY_EXISTS: r(["already_exists"], "The thing exists already"),
  FAILED_PRECONDITION: r(["failed_precondition"], "The system is not in a state that allows this"),
  ABORTED: r(["aborted"], "The call was aborted"),
  OUT_OF_RANGE: r(["out_of_range"], "A value is out of range"),
  DATA_LOSS: r(["data_loss"], "Unrecoverable data loss"),
  INTERNAL: r(["internal"], "An unexpected server error (logged with the request id)"),
  UNKNOWN: r(["unknown"], "An error of unknown kind"),
} as const satisfies Record<string, ReasonEntry>;

export type Reason = keyof typeof ERROR_REASONS;

/** The reasons that may be sent with a code. */
export type ReasonFor<K extends ErrorKind> = {
  [R in Reason]: K extends (typeof ERROR_REASONS)[R]["kinds"][number] ? R : never;
}[Reason];

export function isReason(value: string): value is Reason {
  return Object.hasOwn(ERROR_REASONS, value);
}
