import { GENESIS_HASH } from "../../../../src/domain/audit/audit-event.js";
import { isUuid } from "../../../../src/domain/ids.js";
import type {
  ApiKeyRow,
  AuditRow,
  ConnectorRow,
  EmailVerificationRow,
  IdentityRow,
  MembershipRow,
  MfaChallengeRow,
  MfaFactorRow,
  OrganizationRow,
  PasskeyRow,
  RoleRow,
  ServiceAccountRow,
  SessionRow,
  SigningKeyRow,
  UserRow,
  WebauthnChallengeRow,
} from "../../../../src/domain/records.js";
import type { recoveryCodes, refreshTokens } from "../../../../src/db/schema/index.js";
import type { AuditCheckpoint } from "../../../../src/domain/store/audit-store.js";

export type RefreshTokenRow = typeof refreshTokens.$inferSelect;
export type RecoveryCodeRow = typeof recoveryCodes.$inferSelect;

/** Every table of the schema, keyed by its primary key (composite keys joined with "|"). */
export function emptyTables() {
  return {
    users: new Map<string, UserRow>(),
    sessions: new Map<string, SessionRow>(),
    refreshTokens: new Map<string, RefreshTokenRow>(),
    auditEvents: new Map<number, AuditRow>(),
    // The seeded head row (migration 0006): sequence 0, the genesis hash.
    auditHead: new Map<number, { sequence: number; hash: string }>([[1, { sequence: 0, hash: GENESIS_HASH }]]),
    auditCheckpoints: new Map<number, AuditCheckpoint>(),
    organizations: new Map<string, OrganizationRow>(),
    memberships: new Map<string, MembershipRow>(),
    roles: new Map<string, RoleRow>(),
    apiKeys: new Map<string, ApiKeyRow>(),
    serviceAccounts: new Map<string, ServiceAccountRow>(),
    mfaFactors: new Map<string, MfaFactorRow>(),
    recoveryCodes: new Map<string, RecoveryCodeRow>(),
    mfaChallenges: new Map<string, MfaChallengeRow>(),
    passkeys: new Map<string, PasskeyRow>(),
    webauthnChallenges: new Map<string, WebauthnChallengeRow>(),
    connectors: new Map<string, ConnectorRow>(),
    identities: new Map<string, IdentityRow>(),
    signingKeys: new Map<string, SigningKeyRow>(),
    emailVerifications: new Map<string, EmailVerificationRow>(),
    // Keyed by user id and network: when the user last signed in from it.
    knownNetworks: new Map<string, { userId: string; network: string; lastSignInAt: Date }>(),
  };
}

export type Tables = ReturnType<typeof emptyTables>;

/** Rows leave the fake as copies, as rows leave a database: a caller mutating one changes nothing stored. */
export function copy<R>(row: R): R {
  return structuredClone(row);
}

/** What PostgreSQL answers when a non-UUID reaches a uuid column. */
export function uuidParam(value: string): string {
  if (!isUuid(value)) throw new Error(`invalid input syntax for type uuid: "${value}"`);
  return value;
}

/** A foreign key that must name an existing row. */
export function foreignKey(exists: boolean, constraint: string): void {
  if (!exists) throw new Error(`insert or update violates foreign key constraint "${constraint}"`);
}

export function uniqueViolation(constraint: string): Error {
  return new Error(`duplicate key value violates unique constraint "${constraint}"`);
}

/** ORDER BY created_at, <id> (ascending). */
export function byCreated<R extends { createdAt: Date }>(id: (r: R) => string) {
  return (a: R, b: R) => a.createdAt.getTime() - b.createdAt.getTime() || (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0);
}

/** The keyset condition `(created_at, id) > (cursor)` of the repositories' pages. */
export function afterCursor(row: { createdAt: Date }, rowId: string, cursor: { createdAt: Date; id: string } | undefined): boolean {
  if (!cursor) return true;
  const t = row.createdAt.getTime() - cursor.createdAt.getTime();
  return t > 0 || (t === 0 && rowId > cursor.id);
}

/**
 * Row locks (SELECT ... FOR UPDATE, advisory locks) by key: one holder at a time, the others
 * wait in line. A transaction holds its locks until it ends, as in PostgreSQL.
 */
export class LockTable {
  private readonly tails = new Map<string, Promise<void>>();

  /** Waits for the current holder (if any); returns the release. */
  async acquire(key: string): Promise<() => void> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
}

/** What a transaction keeps: how to undo its writes, and the locks it holds. */
export interface TxState {
  undo: (() => void)[];
  held: Map<string, () => void>;
}

/**
 * Writes to the tables. Inside a transaction each write registers how to undo it, and the
 * transaction runs that list backwards when its function throws: only its own writes are undone
 * (a write made outside it meanwhile, e.g. a failure audit event, stays, as in PostgreSQL).
 * Reads see every write at once (no isolation between transactions); only the explicit locks
 * (lockForUpdate, lockOrganization, lockOwners, lockRotation) order concurrent transactions.
 */
export class Rows {
  constructor(
    readonly tables: Tables,
    private readonly locks: LockTable,
    private readonly tx?: TxState,
  ) {}

  /** Takes a row lock: held to the end of the transaction; outside one, released at once. */
  async lock(key: string): Promise<void> {
    if (this.tx?.held.has(key)) return;
    const release = await this.locks.acquire(key);
    if (this.tx) this.tx.held.set(key, release);
    else release();
  }

  insert<K, R>(table: Map<K, R>, key: K, row: R, constraint = "primary key"): R {
    if (table.has(key)) throw uniqueViolation(constraint);
    this.put(table, key, row);
    return copy(row);
  }

  /** Replaces a row by a changed copy (stored rows are never mutated in place). */
  update<K, R>(table: Map<K, R>, key: K, change: Partial<R>): R | undefined {
    const old = table.get(key);
    if (old === undefined) return undefined;
    const next = { ...old, ...change };
    this.put(table, key, next);
    return copy(next);
  }

  delete<K, R>(table: Map<K, R>, key: K): R | undefined {
    const old = table.get(key);
    if (old === undefined) return undefined;
    table.delete(key);
    this.tx?.undo.push(() => table.set(key, old));
    return copy(old);
  }

  /** Several writes as one statement: all of them, or none if one throws. */
  statement<T>(fn: (rows: Rows) => T): T {
    const own: TxState = { undo: [], held: this.tx?.held ?? new Map() };
    try {
      const result = fn(new Rows(this.tables, this.locks, own));
      this.tx?.undo.push(...own.undo);
      return result;
    } catch (err) {
      for (const u of own.undo.reverse()) u();
      throw err;
    }
  }

  private put<K, R>(table: Map<K, R>, key: K, row: R): void {
    const had = table.has(key);
    const old = table.get(key);
    table.set(key, row);
    this.tx?.undo.push(() => (had ? table.set(key, old as R) : table.delete(key)));
  }
}
