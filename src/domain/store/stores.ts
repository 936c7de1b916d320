import type { ApiKeyStore } from "./api-key-store.js";
import type { AuditStore } from "./audit-store.js";
import type { CertificateAuthorityStore } from "./certificate-authority-store.js";
import type { EmailVerificationStore } from "./email-verification-store.js";
import type { ConnectorStore, IdentityStore } from "./federation-store.js";
import type { MfaStore } from "./mfa-store.js";
import type { OrganizationStore } from "./organization-store.js";
import type { PasskeyStore } from "./passkey-store.js";
import type { RoleStore } from "./role-store.js";
import type { ServiceAccountStore } from "./service-account-store.js";
import type { SessionStore } from "./session-store.js";
import type { SigningKeyStore } from "./signing-key-store.js";
import type { Ports } from "./transactional.js";
import type { UserStore } from "./user-store.js";
import type { DeviceStore } from "./device-store.js";
import type { PolicyStore } from "./policy-store.js";
import type { OrgPolicyStore } from "./org-policy-store.js";
import type { TelemetryStore } from "./telemetry-store.js";
import type { JoinTokenStore, NodeStore } from "./join-store.js";
import type { AgentIdentityStore } from "./agent-identity-store.js";
import type { ClusterConfigStore } from "./cluster-config-store.js";
import type { JoinChallengeStore } from "./join-challenge-store.js";
import type { LockStore } from "./lock-store.js";
import type { AccessRequestStore } from "./access-request-store.js";
import type { SshSessionStore } from "./ssh-session-store.js";
import type { RecordingStore } from "./recording-store.js";

/** Every aggregate's store; a domain service takes the few it uses (see Ports). */
export interface Stores {
  users: UserStore;
  sessions: SessionStore;
  audit: AuditStore;
  orgs: OrganizationStore;
  roles: RoleStore;
  apiKeys: ApiKeyStore;
  serviceAccounts: ServiceAccountStore;
  mfa: MfaStore;
  passkeys: PasskeyStore;
  connectors: ConnectorStore;
  identities: IdentityStore;
  signingKeys: SigningKeyStore;
  emailVerifications: EmailVerificationStore;
  devices: DeviceStore;
  policies: PolicyStore;
  orgPolicies: OrgPolicyStore;
  telemetry: TelemetryStore;
  certificateAuthorities: CertificateAuthorityStore;
  joinTokens: JoinTokenStore;
  nodes: NodeStore;
  agentIdentities: AgentIdentityStore;
  joinChallenges: JoinChallengeStore;
  clusterConfig: ClusterConfigStore;
  locks: LockStore;
  accessRequests: AccessRequestStore;
  sshSessions: SshSessionStore;
  recordings: RecordingStore;
}

export type Store = Ports<Stores>;
