/**
 * The stored records the domain reads and returns, as the schema defines them. Handlers and
 * converters take these types from here, so that no layer above the domain imports db/.
 */
export type {
  ApiKeyRow,
  AuditRow,
  CertificateAuthorityRow,
  AccessPolicyRow,
  ConnectorRow,
  DeviceChallengeRow,
  DeviceRow,
  OrgPolicyConfigRow,
  TelemetryEventRow,
  EmailVerificationRow,
  IdentityRow,
  JoinTokenRow,
  NodeRow,
  X509AuthorityRow,
  MembershipRow,
  MfaChallengeRow,
  MfaFactorRow,
  OrganizationRow,
  PasskeyRow,
  RoleRow,
  RoleRule,
  SshPermissionFlags,
  ServiceAccountRow,
  SessionRow,
  SigningKeyRow,
  UserRow,
  WebauthnChallengeRow,
} from "../db/schema/index.js";
