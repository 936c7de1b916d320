import type { LinkKeyPads } from "../domain/audit/audit-event.js";
import type { Store, Stores } from "../domain/store/stores.js";
import type { Db, DbOrTx } from "./client.js";
import { ApiKeyRepository } from "./repositories/api-key-repository.js";
import { AuditRepository } from "./repositories/audit-repository.js";
import { GroupCommittedAuditRepository } from "./audit-group-commit.js";
import { ConnectorRepository } from "./repositories/connector-repository.js";
import { EmailVerificationRepository } from "./repositories/email-verification-repository.js";
import { IdentityRepository } from "./repositories/identity-repository.js";
import { MfaRepository } from "./repositories/mfa-repository.js";
import { OrganizationRepository } from "./repositories/organization-repository.js";
import { PasskeyRepository } from "./repositories/passkey-repository.js";
import { RoleRepository } from "./repositories/role-repository.js";
import { ServiceAccountRepository } from "./repositories/service-account-repository.js";
import { SessionRepository } from "./repositories/session-repository.js";
import { SigningKeyRepository } from "./repositories/signing-key-repository.js";
import { CertificateAuthorityRepository } from "./repositories/certificate-authority-repository.js";
import { UserRepository } from "./repositories/user-repository.js";
import { DeviceRepository } from "./repositories/device-repository.js";
import { PolicyRepository } from "./repositories/policy-repository.js";
import { OrgPolicyRepository } from "./repositories/org-policy-repository.js";
import { TelemetryRepository } from "./repositories/telemetry-repository.js";
import { JoinTokenRepository } from "./repositories/join-token-repository.js";
import { NodeRepository } from "./repositories/node-repository.js";
import { AgentIdentityRepository } from "./repositories/agent-identity-repository.js";
import { JoinChallengeRepository } from "./repositories/join-challenge-repository.js";
import { ClusterConfigRepository } from "./repositories/cluster-config-repository.js";
import { LockRepository } from "./repositories/lock-repository.js";
import { RecordingRepository } from "./repositories/recording-repository.js";
import { AccessRequestRepository } from "./repositories/access-request-repository.js";
import { SshSessionRepository } from "./repositories/ssh-session-repository.js";

/** Every repository bound to one connection or transaction. */
function storesOf(db: DbOrTx, chainKey: LinkKeyPads): Stores {
  return {
    users: new UserRepository(db),
    sessions: new SessionRepository(db, chainKey),
    audit: new AuditRepository(db, chainKey),
    orgs: new OrganizationRepository(db),
    roles: new RoleRepository(db),
    apiKeys: new ApiKeyRepository(db),
    serviceAccounts: new ServiceAccountRepository(db),
    mfa: new MfaRepository(db),
    passkeys: new PasskeyRepository(db),
    connectors: new ConnectorRepository(db),
    identities: new IdentityRepository(db),
    signingKeys: new SigningKeyRepository(db),
    emailVerifications: new EmailVerificationRepository(db),
    devices: new DeviceRepository(db),
    policies: new PolicyRepository(db),
    orgPolicies: new OrgPolicyRepository(db),
    telemetry: new TelemetryRepository(db),
    certificateAuthorities: new CertificateAuthorityRepository(db),
    joinTokens: new JoinTokenRepository(db),
    nodes: new NodeRepository(db),
    agentIdentities: new AgentIdentityRepository(db),
    joinChallenges: new JoinChallengeRepository(db),
    clusterConfig: new ClusterConfigRepository(db),
    locks: new LockRepository(db),
    accessRequests: new AccessRequestRepository(db),
    sshSessions: new SshSessionRepository(db),
    recordings: new RecordingRepository(db),
  };
}

/**
 * The domain's ports on PostgreSQL (or PGlite): repositories, and transactions that bind them.
 * The audit chain's current key goes with them: the database computes each link (one statement).
 */
export function createStore(db: Db, auditChainKey: LinkKeyPads): Store {
  // Outside transactions, concurrent audit appends share statements (see GroupCommittedAuditRepository).
  return {
    ...storesOf(db, auditChainKey),
    audit: new GroupCommittedAuditRepository(db, auditChainKey),
    transaction: (fn) => db.transaction((tx) => fn(storesOf(tx, auditChainKey))),
  };
}
