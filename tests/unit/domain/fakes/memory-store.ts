import type { AuditEventType } from "../../../../src/domain/audit/audit-events.js";
import type { AuditRow } from "../../../../src/domain/records.js";
import type { Store, Stores } from "../../../../src/domain/store/stores.js";
import { MemoryApiKeyStore } from "./api-key-store.js";
import { MemoryAuditStore } from "./audit-store.js";
import { MemoryEmailVerificationStore } from "./email-verification-store.js";
import { MemoryConnectorStore, MemoryIdentityStore } from "./federation-store.js";
import { MemoryMfaStore } from "./mfa-store.js";
import { MemoryOrganizationStore } from "./organization-store.js";
import { MemoryPasskeyStore } from "./passkey-store.js";
import { MemoryRoleStore } from "./role-store.js";
import { MemoryServiceAccountStore } from "./service-account-store.js";
import { MemorySessionStore } from "./session-store.js";
import { MemorySigningKeyStore } from "./signing-key-store.js";
import { copy, emptyTables, LockTable, Rows, type Tables, type TxState } from "./tables.js";
import { MemoryUserStore } from "./user-store.js";

type StoreName = keyof Stores;
/** "sessions.createWithAudit" */
export type MethodName = { [S in StoreName]: `${S}.${keyof Stores[S] & string}` }[StoreName];

/**
 * Every port in memory, with the repositories' semantics, plus what tests need: the tables to
 * read, the calls made (in order), and faults to inject into the next call of a method.
 * Concurrent transactions are ordered only by the explicit row locks; their reads see each
 * other's uncommitted writes, so a race the fake shows is real, but it can miss some.
 */
export class MemoryStore implements Store {
  readonly tables: Tables = emptyTables();
  /** Every port method called, through the store or a transaction, in order. */
  readonly calls: MethodName[] = [];
  readonly transactions = { committed: 0, rolledBack: 0 };
  private readonly faults = new Map<string, Error[]>();
  private readonly rowLocks = new LockTable();
  private readonly ports: Stores = this.bind(new Rows(this.tables, this.rowLocks));

  get users() {
    return this.ports.users;
  }
  get devices() {
    return this.ports.devices;
  }
  get policies() {
    return this.ports.policies;
  }
  get orgPolicies() {
    return this.ports.orgPolicies;
  }
  get telemetry() {
    return this.ports.telemetry;
  }
  get certificateAuthorities() {
    return this.ports.certificateAuthorities;
  }
  get joinTokens() {
    return this.ports.joinTokens;
  }
  get nodes() {
    return this.ports.nodes;
  }
  get agentIdentities() {
    return this.ports.agentIdentities;
  }
  get joinChallenges() {
    return this.ports.joinChallenges;
  }
  get clusterConfig() {
    return this.ports.clusterConfig;
  }
  get locks() {
    return this.ports.locks;
  }
  get accessRequests() {
    return this.ports.accessRequests;
  }
  get sshSessions() {
    return this.ports.sshSessions;
  }
  get recordings() {
    return this.ports.recordings;
  }
  get sessions() {
    return this.ports.sessions;
  }
  get audit() {
    return this.ports.audit;
  }
  get orgs() {
    return this.ports.orgs;
  }
  get roles() {
    return this.ports.roles;
  }
  get apiKeys() {
    return this.ports.apiKeys;
  }
  get serviceAccounts() {
    return this.ports.serviceAccounts;
  }
  get mfa() {
    return this.ports.mfa;
  }
  get emailVerifications() {
    return this.ports.emailVerifications;
  }
  get passkeys() {
    return this.ports.passkeys;
  }
  get connectors() {
    return this.ports.connectors;
  }
  get identities() {
    return this.ports.identities;
  }
  get signingKeys() {
    return this.ports.signingKeys;
  }

  /**
   * All or nothing: the writes made through `tx` are undone, newest first, if fn throws. The
   * row locks it took are released when it ends.
   */
  async transaction<T>(fn: (tx: Stores) => Promise<T>): Promise<T> {
    const state: TxState = { undo: [], held: new Map() };
    try {
      const result = await fn(this.bind(new Rows(this.tables, this.rowLocks, state)));
      this.transactions.committed++;
      return result;
    } catch (err) {
      for (const u of state.undo.reverse()) u();
      this.transactions.rolledBack++;
      throw err;
    } finally {
      for (const release of state.held.values()) release();
    }
  }

  /** The next call of `method` (from anywhere) rejects with `error`, before it changes anything. */
  failNext<S extends StoreName>(store: S, method: keyof Stores[S] & string, error: Error = new Error("connection reset")): void {
    const key = `${store}.${method}`;
    this.faults.set(key, [...(this.faults.get(key) ?? []), error]);
  }

  callCount(method: MethodName): number {
    return this.calls.filter((c) => c === method).length;
  }

  /** The audit log, oldest first (optionally one event type). */
  audited(eventType?: AuditEventType): AuditRow[] {
    return [...this.tables.auditEvents.values()]
      .filter((e) => !eventType || e.eventType === eventType)
      .sort((a, b) => a.sequence - b.sequence)
      .map(copy);
  }

  private bind(rows: Rows): Stores {
    return {
      users: this.instrument("users", new MemoryUserStore(rows)),
      sessions: this.instrument("sessions", new MemorySessionStore(rows)),
      audit: this.instrument("audit", new MemoryAuditStore(rows)),
      orgs: this.instrument("orgs", new MemoryOrganizationStore(rows)),
      roles: this.instrument("roles", new MemoryRoleStore(rows)),
      apiKeys: this.instrument("apiKeys", new MemoryApiKeyStore(rows)),
      serviceAccounts: this.instrument("serviceAccounts", new MemoryServiceAccountStore(rows)),
      mfa: this.instrument("mfa", new MemoryMfaStore(rows)),
      passkeys: this.instrument("passkeys", new MemoryPasskeyStore(rows)),
      connectors: this.instrument("connectors", new MemoryConnectorStore(rows)),
      identities: this.instrument("identities", new MemoryIdentityStore(rows)),
      signingKeys: this.instrument("signingKeys", new MemorySigningKeyStore(rows)),
      emailVerifications: this.instrument("emailVerifications", new MemoryEmailVerificationStore(rows)),
      // The zero-trust areas are tested on the real database (tests/integration/); a domain unit
      // test that reaches them fails loudly here instead of passing on a fake.
      devices: notModelled("devices"),
      policies: notModelled("policies"),
      orgPolicies: notModelled("orgPolicies"),
      telemetry: notModelled("telemetry"),
      certificateAuthorities: notModelled("certificateAuthorities"),
      joinTokens: notModelled("joinTokens"),
      nodes: notModelled("nodes"),
      agentIdentities: notModelled("agentIdentities"),
      joinChallenges: notModelled("joinChallenges"),
      clusterConfig: notModelled("clusterConfig"),
      locks: notModelled("locks"),
      accessRequests: notModelled("accessRequests"),
      sshSessions: notModelled("sshSessions"),
      recordings: notModelled("recordings"),
    };
  }

  /** Records each method call and throws an injected fault instead of running it. */
  private instrument<T extends object>(name: StoreName, port: T): T {
    return new Proxy(port, {
      get: (target, prop, receiver) => {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== "function" || typeof prop !== "string") return value;
        return (...args: unknown[]) => {
          const key = `${name}.${prop}`;
          this.calls.push(key as MethodName);
          const fault = this.faults.get(key)?.shift();
          if (fault) return Promise.reject(fault);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }
}

/** A store the in-memory fake does not model: any use throws. */
function notModelled<T extends object>(name: string): T {
  return new Proxy({} as T, {
    get(_t, prop) {
      if (prop === "then") return undefined;
      throw new Error(`the in-memory store does not model ${name}.${String(prop)}; test this on the database`);
    },
  });
}
