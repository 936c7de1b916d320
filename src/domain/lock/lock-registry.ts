import type { Clock } from "../../clock.js";
import { DomainError } from "../errors.js";
import { BusReloaded } from "../cache/bus-reloaded.js";
import type { InvalidationBus } from "../invalidation.js";
import type { LockRow } from "../records.js";
import type { LockStore, LockTargetKind } from "../store/lock-store.js";
import type { AccessGrants } from "../access/access-grants.js";

/** What a credential or call is for; a lock on any one of these covers it. */
export interface LockSubject {
  userId?: string;
  roles?: readonly string[];
  /** A node's agent id, and its hostname (a node lock names either). */
  nodeId?: string;
  hostname?: string;
  deviceId?: string;
  agentIdentityId?: string;
  /** SSH logins asked for: locked ones are left out, and none left is a refusal. */
  logins?: readonly string[];
}

export interface LockRegistryDeps {
  store: { locks: Pick<LockStore, "active"> };
  clock: Clock;
  bus: InvalidationBus;
  log: { warn(obj: object, msg: string): void };
  /** A reload this often besides the "lock" notifications (a notification lost with its connection). */
  refreshMs: number;
  /**
   * Approved access requests: a user's roles are widened by their live grants before role locks
   * are looked up, so a lock on a role covers those holding it through a grant at every path
   * that passes the user's roles (sign-in, refresh, password checks, certificates, calls).
   */
  grants?: Pick<AccessGrants, "rolesOf">;
}

/** Locks agents are told of in their heartbeat reply: those that cover SSH sessions on a node. */
const SESSION_KINDS: readonly LockTargetKind[] = ["user", "role", "login"];

const keyOf = (kind: LockTargetKind, value: string) => `${kind}\u0000${value}`;

/**
 * The one lock check. Every instance holds the live locks in memory (BusReloaded, topic
 * "lock"), so a check costs no database read. Expiry is judged at check time by the clock, so an expired lock stops covering
 * at once everywhere without a reload.
 */
export class LockRegistry {
  private readonly locks: BusReloaded<{ byTarget: Map<string, LockRow[]>; rows: LockRow[] }>;

  constructor(private readonly d: LockRegistryDeps) {
    this.locks = new BusReloaded(
      { bus: d.bus, topic: "lock", log: d.log, refreshMs: d.refreshMs, what: "lock", load: () => this.load() },
      { byTarget: new Map(), rows: [] },
    );
  }

  start(): Promise<void> {
    return this.locks.start();
  }

  stop(): void {
    this.locks.stop();
  }

  /** Loads the locks again; see BusReloaded.reload. */
  reload(): Promise<void> {
    return this.locks.reload();
  }

  private async load(): Promise<{ byTarget: Map<string, LockRow[]>; rows: LockRow[] }> {
    const rows = await this.d.store.locks.active(this.d.clock.now());
    const byTarget = new Map<string, LockRow[]>();
    for (const row of rows) {
      const key = keyOf(row.targetKind as LockTargetKind, row.targetValue);
      byTarget.set(key, [...(byTarget.get(key) ?? []), row]);
    }
    return { byTarget, rows };
  }

  /**
   * Throws PERMISSION_DENIED (LOCKED, with the lock's message) when a live lock covers the
   * subject; returns the subject's logins that no lock covers (refused when it asked for some
   * and every one is locked).
   */
  requireUnlocked(subject: LockSubject): { logins: string[] } {
    const now = this.d.clock.now().getTime();
    const roles = subject.userId && subject.roles && this.d.grants ? this.d.grants.rolesOf(subject.userId, subject.roles) : subject.roles;
    const find = (kind: LockTargetKind, value: string | undefined) =>
      value
        ? this.locks.current.byTarget.get(keyOf(kind, kind === "role" || kind === "login" ? value : value.toLowerCase()))?.find((l) => live(l, now))
        : undefined;
    const hit =
      find("user", subject.userId) ??
      find("device", subject.deviceId) ??
      find("agent_identity", subject.agentIdentityId) ??
      find("node", subject.nodeId) ??
      find("node", subject.hostname) ??
      roles?.map((r) => find("role", r)).find((l) => l !== undefined);
    if (hit) throw lockedError(hit);
    const asked = subject.logins ?? [];
    const logins = asked.filter((login) => !find("login", login));
    if (asked.length > 0 && logins.length === 0) throw lockedError(find("login", asked[0])!);
    return { logins };
  }

  /** The live user, role and login locks, for agents' heartbeat replies. */
  sessionLocks(): LockRow[] {
    const now = this.d.clock.now().getTime();
    return this.locks.current.rows.filter((l) => SESSION_KINDS.includes(l.targetKind as LockTargetKind) && live(l, now));
  }
}

function live(lock: LockRow, now: number): boolean {
  return !lock.expiresAt || lock.expiresAt.getTime() > now;
}

function lockedError(lock: LockRow): DomainError {
  const what = lock.targetKind.replace("_", " ");
  return new DomainError("permission_denied", "LOCKED", `locked (${what}): ${lock.message || "an administrator locked this"}`, {
    metadata: { lock_id: lock.id, target_kind: lock.targetKind },
  });
}
