import type { Clock } from "../../clock.js";
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
  expiresAt: number;
}

/**
 * The roles approved access requests grant, per user. Every instance holds them in memory:
 * loaded at start (a failure stops the start), reloaded on every "access_request" notification
 * (approval, cancellation) and on a timer, so the authenticator widens a user's roles with no
 * database read. Expiry is judged at check time by the clock: an expired grant stops counting at
 * once everywhere, without a reload.
 */
export class AccessGrants {
  private byUser = new Map<string, Grant[]>();
  private loading?: Promise<void>;
  private queued?: Promise<void>;
  private timer?: NodeJS.Timeout;

  constructor(private readonly d: AccessGrantsDeps) {}

  async start(): Promise<void> {
    this.d.bus.on("access_request", () => void this.reload().catch(() => {}));
    await this.reload();
    this.timer = setInterval(() => void this.reload().catch(() => {}), this.d.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** As LockRegistry.reload: a reload asked for while one runs starts after it, so it sees every commit before the call. */
  reload(): Promise<void> {
    if (this.loading) {
      const after = () => ((this.queued = undefined), this.reload());
      return (this.queued ??= this.loading.then(after, after));
    }
    this.loading = this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async load(): Promise<void> {
    try {
      const rows = await this.d.store.accessRequests.granting(this.d.clock.now());
      const byUser = new Map<string, Grant[]>();
      for (const row of rows) {
        if (!row.accessExpiresAt) continue;
        const grant = { roles: row.roles, expiresAt: row.accessExpiresAt.getTime() };
        byUser.set(row.userId, [...(byUser.get(row.userId) ?? []), grant]);
      }
      this.byUser = byUser;
    } catch (err) {
      // The grants known so far stay (each ends by its own expiry); the next notification or tick tries again.
      this.d.log.warn({ err: { message: (err as Error).message } }, "access grant reload failed");
      throw err;
    }
  }

  /** The user's roles widened by their live grants (the user's own first, no repeats). */
  rolesOf(userId: string, own: readonly string[]): string[] {
    const grants = this.live(userId);
    if (grants.length === 0) return [...own];
    return [...new Set([...own, ...grants.flatMap((g) => g.roles)])];
  }

  /** When the user's first live grant ends (a certificate carrying granted logins must not outlive it); undefined: none. */
  firstExpiry(userId: string): Date | undefined {
    const grants = this.live(userId);
    return grants.length === 0 ? undefined : new Date(Math.min(...grants.map((g) => g.expiresAt)));
  }

  private live(userId: string): Grant[] {
    const now = this.d.clock.now().getTime();
    return (this.byUser.get(userId) ?? []).filter((g) => g.expiresAt > now);
  }
}
