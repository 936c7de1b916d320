import type { Store, Stores } from "../domain/store/stores.js";
import type { Db, DbOrTx } from "./client.js";
import { ApiKeyRepository } from "./repositories/api-key-repository.js";
import { AuditRepository } from "./repositories/audit-repository.js";
import { ConnectorRepository } from "./repositories/connector-repository.js";
import { IdentityRepository } from "./repositories/identity-repository.js";
import { MfaRepository } from "./repositories/mfa-repository.js";
import { OrganizationRepository } from "./repositories/organization-repository.js";
import { PasskeyRepository } from "./repositories/passkey-repository.js";
import { RoleRepository } from "./repositories/role-repository.js";
import { ServiceAccountRepository } from "./repositories/service-account-repository.js";
import { SessionRepository } from "./repositories/session-repository.js";
import { SigningKeyRepository } from "./repositories/signing-key-repository.js";
import { UserRepository } from "./repositories/user-repository.js";

/** Every repository bound to one connection or transaction. */
function storesOf(db: DbOrTx): Stores {
  return {
    users: new UserRepository(db),
    sessions: new SessionRepository(db),
    audit: new AuditRepository(db),
    orgs: new OrganizationRepository(db),
    roles: new RoleRepository(db),
    apiKeys: new ApiKeyRepository(db),
    serviceAccounts: new ServiceAccountRepository(db),
    mfa: new MfaRepository(db),
    passkeys: new PasskeyRepository(db),
    connectors: new ConnectorRepository(db),
    identities: new IdentityRepository(db),
    signingKeys: new SigningKeyRepository(db),
  };
}

/** The domain's ports on PostgreSQL (or PGlite): repositories, and transactions that bind them. */
export function createStore(db: Db): Store {
  return { ...storesOf(db), transaction: (fn) => db.transaction((tx) => fn(storesOf(tx))) };
}
