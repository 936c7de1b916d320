import type { Clock } from "../../clock.js";
import { BusReloaded } from "../cache/bus-reloaded.js";
import type { InvalidationBus } from "../invalidation.js";
import type { AccessRequestStore } from "../store/access-request-store.js";

export interface AccessGrantsDeps {
  store: { accessRequests: Pick<AccessRequestStore, "granting"> };
  clock: Clock;
  bus: InvalidationBus;
  log: { warn(obj: object, msg: string): void };
  /** A reload this often besides the "access_request" notifications (one lost with its connection). */
  refreshMs: number;
}

interface Grant {
  roles: string[];
  nodeIds: string[];
  expiresAt: number;
}

/**
 * The roles and nodes approved access requests grant, per user. Every instance holds them in memory
 * (BusReloaded, topic "access_request": approval, cancellation), so the authenticator widens a
 * user's roles (and NodeDirectory the nodes they reach) with no database read. Expiry is judged at check time by the clock: an expired grant stops counting at
 * once everywhere, without a reload.
 */
export class AccessGrants {
  private readonly grants: BusReloaded<Map<string, Grant[]>>;

  constructor(private readonly d: AccessGrantsDeps) {
    this.grants = new BusReloaded(
      { bus: d.bus, topic: "access_request", log: d.log, refreshMs: d.refreshMs, what: "access grant", load: () => this.load() },
      new Map(),
    );
  }

  start(): Promise<void> {
    return this.grants.start();
  }

  stop(): void {
    this.grants.stop();
  }

  /** Loads the grants again; see BusReloaded.reload. */
  reload(): Promise<void> {
    return this.grants.reload();
  }

  private async load(): Promise<Map<string, Grant[]>> {
    const rows = await this.d.store.accessRequests.granting(this.d.clock.now());
    const byUser = new Map<string, Grant[]>();
    for (const row of rows) {
      if (!row.accessExpiresAt) continue;
      const grant = { roles: row.roles, nodeIds: row.nodeIds, expiresAt: row.accessExpiresAt.getTime() };
      byUser.set(row.userId, [...(byUser.get(row.userId) ?? []), grant]);
    }
    return byUser;
  }

  /** The user's roles widened by their live grants (the user's own first, no repeats). */
  rolesOf(userId: string, own: readonly string[]): string[] {
    const grants = this.live(userId);
    if (grants.length === 0) return [...own];
    return [...new Set([...own, ...grants.flatMap((g) => g.roles)])];
  }

  /** The nodes the user's live grants make reachable (besides those their roles reach). */
  nodesOf(userId: string): string[] {
    return [...new Set(this.live(userId).flatMap((g) => g.nodeIds))];
  }

  /** When the user's first live grant ends (a certificate carrying granted logins must not outlive it); undefined: none. */
  firstExpiry(userId: string): Date | undefined {
    const grants = this.live(userId);
    return grants.length === 0 ? undefined : new Date(Math.min(...grants.map((g) => g.expiresAt)));
  }

  private live(userId: string): Grant[] {
    const now = this.d.clock.now().getTime();
    return (this.grants.current.get(userId) ?? []).filter((g) => g.expiresAt > now);
  }
}
