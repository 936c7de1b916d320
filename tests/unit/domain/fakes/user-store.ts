import { randomUUID } from "node:crypto";
import { isUuid } from "../../../../src/domain/ids.js";
import type { UserRow } from "../../../../src/domain/records.js";
import type { NewUser, PageAfter, UserChanges, UserStore } from "../../../../src/domain/store/user-store.js";
import { afterCursor, byCreated, copy, uuidParam, type Rows } from "./tables.js";

/** UserRepository in memory: soft-deleted users are invisible to every read but the raw table. */
export class MemoryUserStore implements UserStore {
  constructor(private readonly rows: Rows) {}

  private get t() {
    return this.rows.tables;
  }

  private live(): UserRow[] {
    return [...this.t.users.values()].filter((u) => !u.deletedAt);
  }

  async create(user: NewUser, now: Date): Promise<UserRow | undefined> {
    // ON CONFLICT (email) DO NOTHING; a deleted user's email was suffixed, so it is free again.
    if ([...this.t.users.values()].some((u) => u.email === user.email)) return undefined;
    const row: UserRow = {
      id: randomUUID(),
      email: user.email,
      displayName: user.displayName,
      passwordHash: user.passwordHash,
      roles: user.roles ?? [],
      disabled: false,
      emailVerifiedAt: user.emailVerifiedAt ?? null,
      createdAt: now,
      updatedAt: now,
      passwordChangedAt: user.passwordHash ? now : null,
      deletedAt: null,
      loginAlias: user.loginAlias ?? null,
      traits: user.traits ?? {},
    };
    return this.rows.insert(this.t.users, row.id, row);
  }

  async findById(id: string): Promise<UserRow | undefined> {
    if (!isUuid(id)) return undefined;
    const u = this.t.users.get(id);
    return u && !u.deletedAt ? copy(u) : undefined;
  }

  async findByLoginAlias(alias: string): Promise<UserRow | undefined> {
    const u = this.live().find((r) => r.loginAlias === alias);
    return u ? copy(u) : undefined;
  }

  async findByEmail(email: string): Promise<UserRow | undefined> {
    const u = this.live().find((r) => r.email === email);
    return u && copy(u);
  }

  async findByEmailForSignIn(email: string, network: string, knownSince: Date): Promise<(UserRow & { hasMfa: boolean; knownNetwork: boolean }) | undefined> {
    const u = this.live().find((r) => r.email === email);
    if (!u) return undefined;
    const hasMfa = [...this.t.mfaFactors.values()].some((f) => f.userId === u.id && f.confirmedAt !== null);
    const known = this.t.knownNetworks.get(`${u.id}|${network}`);
    return { ...copy(u), hasMfa, knownNetwork: !!known && known.lastSignInAt > knownSince };
  }

  async lockForUpdate(id: string): Promise<void> {
    await this.rows.lock(`users:${uuidParam(id)}`);
  }

  async list(limit: number, after?: PageAfter, emailPrefix?: string): Promise<UserRow[]> {
    return this.live()
      .filter((u) => (!emailPrefix || u.email.startsWith(emailPrefix)) && afterCursor(u, u.id, after))
      .sort(byCreated((u) => u.id))
      .slice(0, limit)
      .map(copy);
  }

  async update(id: string, changes: UserChanges, now: Date): Promise<UserRow | undefined> {
    const u = this.t.users.get(uuidParam(id));
    if (!u || u.deletedAt) return undefined;
    return this.rows.update(this.t.users, id, { ...changes, updatedAt: now });
  }

  async softDelete(id: string, now: Date): Promise<UserRow | undefined> {
    const u = this.t.users.get(uuidParam(id));
    if (!u || u.deletedAt) return undefined;
    return this.rows.update(this.t.users, id, {
      deletedAt: now,
      disabled: true,
      updatedAt: now,
      email: `${u.email}#deleted:${u.id}`,
      passwordHash: null,
      loginAlias: null,
    });
  }

  async counts(): Promise<{ total: number; disabled: number }> {
    const live = this.live();
    return { total: live.length, disabled: live.filter((u) => u.disabled).length };
  }
}
