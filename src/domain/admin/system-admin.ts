import type { Clock } from "../../clock.js";
import type { KeyStore } from "../../crypto/key-store.js";
import type { AuditLog } from "../audit/audit-log.js";
import { auditActor } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError } from "../errors.js";
import type { Principal } from "../principal.js";
import type { AuditStore } from "../store/audit-store.js";
import type { SessionStore } from "../store/session-store.js";
import type { TelemetryStore } from "../store/telemetry-store.js";
import type { UserStore } from "../store/user-store.js";

export interface SystemStats {
  usersTotal: number;
  usersDisabled: number;
  sessionsActive: number;
  auditEventsTotal: number;
  /** Devices not revoked. */
  devicesTotal: number;
  /** Telemetry events whose time is within the last hour on the clock. */
  telemetryEventsLastHour: number;
  startedAt: Date;
  signingKeyId: string;
  databaseDriver: string;
}

export interface SystemAdminDeps {
  store: {
    users: Pick<UserStore, "counts">;
    sessions: Pick<SessionStore, "countActive">;
    audit: Pick<AuditStore, "count">;
    telemetry: Pick<TelemetryStore, "countLiveDevices" | "countBetween">;
  };
  clock: Clock;
  keys: KeyStore;
  audit: AuditLog;
  startedAt: Date;
  databaseDriver: string;
  idleTimeoutSeconds: number;
}

/** Installation-wide figures and the signing key. */
export class SystemAdmin {
  constructor(private readonly d: SystemAdminDeps) {}

  async stats(): Promise<SystemStats> {
    const now = this.d.clock.now();
    const [users, sessionsActive, auditEventsTotal, devicesTotal, telemetryEventsLastHour] = await Promise.all([
      this.d.store.users.counts(),
      this.d.store.sessions.countActive(now, new Date(now.getTime() - this.d.idleTimeoutSeconds * 1000)),
      this.d.store.audit.count(),
      this.d.store.telemetry.countLiveDevices(),
      // A bounded time range: only the partitions it touches are scanned.
      this.d.store.telemetry.countBetween(new Date(now.getTime() - 3_600_000), now),
    ]);
    return {
      usersTotal: users.total,
      usersDisabled: users.disabled,
      sessionsActive,
      auditEventsTotal,
      devicesTotal,
      telemetryEventsLastHour,
      startedAt: this.d.startedAt,
      signingKeyId: this.d.keys.signingKey().kid,
      databaseDriver: this.d.databaseDriver,
    };
  }

  async rotateSigningKey(caller: Principal, meta: RequestMeta): Promise<{ kid: string; previousKid: string }> {
    if (this.d.keys.algorithm === "HS256")
      throw new DomainError("failed_precondition", "HS256_KEY_FROM_CONFIG", "the HS256 secret comes from configuration; change it there");
    const r = await this.d.keys.rotateNow();
    await this.d.audit.recordAlone({
      eventType: "admin.rotate_signing_key",
      outcome: "success",
      ...auditActor(caller, meta),
      targetType: "signing_key",
      targetId: r.kid,
      details: { previous: r.previousKid },
    });
    return r;
  }
}
