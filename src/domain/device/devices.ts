import type { Clock } from "../../clock.js";
import type { AuditLog } from "../audit/audit-log.js";
import { auditActor } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import { roleAtLeast } from "../org/member-role.js";
import type { OrgGrant } from "../org/org-access.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import { hasSystemAccess, type Principal } from "../principal.js";
import type { DeviceRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { DeviceStore } from "../store/device-store.js";
import type { Ports } from "../store/transactional.js";
import type { DeviceAccess } from "./device-access.js";
import { postureOf, type DevicePostureView } from "./posture.js";

/** A device as callers see it: the row and its posture as of now. */
export interface DeviceView {
  device: DeviceRow;
  posture: DevicePostureView;
}

export interface DevicesDeps {
  store: Ports<{ devices: DeviceStore; audit: Pick<AuditStore, "append"> }>;
  clock: Clock;
  audit: AuditLog;
  bus: InvalidationBus;
  access: DeviceAccess;
  /** Called with the sessions a revocation ended, after it commits (SessionManager.revoked). */
  sessionsRevoked(ids: string[]): Promise<void>;
  /** device_posture_max_age: older posture reports count as unknown. */
  postureMaxAgeSeconds: number;
}

/** Reading, revoking and trusting registered devices. */
export class Devices {
  constructor(private readonly d: DevicesDeps) {}

  view(device: DeviceRow): DeviceView {
    return { device, posture: postureOf(device, this.d.clock.now(), this.d.postureMaxAgeSeconds) };
  }

  async get(caller: Principal, id: string): Promise<DeviceView> {
    return this.view((await this.d.access.visible(caller, id)).device);
  }

  /** The caller's own devices in the organization; every device of it for its admins. */
  async list(
    caller: Principal,
    grant: OrgGrant,
    req: { pageSize: number; pageToken: string; showRevoked: boolean },
  ): Promise<{ items: DeviceView[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const seesAll = roleAtLeast(grant.role, "admin") || hasSystemAccess(caller);
    // A machine credential has no devices of its own; a user's API key sees its owner's.
    const own = caller.kind === "user" ? caller.userId : caller.ownerUserId;
    if (!seesAll && !own) return { items: [], nextPageToken: "" };
    const rows = await this.d.store.devices.list(grant.organization.id, size + 1, {
      userId: seesAll ? undefined : own,
      includeRevoked: req.showRevoked,
      after: decodeCreatedCursor(req.pageToken),
    });
    const page = pageOf(rows, size, createdCursorOf);
    return { items: page.items.map((row) => this.view(row)), nextPageToken: page.nextPageToken };
  }

  /**
   * Revokes the device and ends every live session bound to it, in one transaction; every
   * instance drops those sessions from its cache. Revoking a revoked device is not an error: it
   * ends any session still bound to it (normally none) and changes nothing else.
   */
  async revoke(caller: Principal, id: string, meta: RequestMeta): Promise<{ revokedSessions: number }> {
    const { device } = await this.d.access.visible(caller, id);
    const now = this.d.clock.now();
    const ended = await this.d.store.transaction(async (tx) => {
      const revoked = await tx.devices.revoke(device.id, now);
      const sessionIds = await tx.devices.revokeBoundSessions(device.id, now);
      if (revoked || sessionIds.length)
        await this.d.audit.record(tx, {
          eventType: "device.revoke",
          outcome: "success",
          ...auditActor(caller, meta),
          targetType: "device",
          targetId: device.id,
          details: { organization_id: device.organizationId, user_id: device.userId, revoked_sessions: String(sessionIds.length) },
        });
      return sessionIds;
    });
    await this.d.sessionsRevoked(ended);
    await this.d.bus.publish([{ topic: "device", id: device.id }]);
    return { revokedSessions: ended.length };
  }

  /** Org admins (or system admins) mark a device trusted or not; a revoked device stays as it is. */
  async trust(caller: Principal, id: string, trusted: boolean, meta: RequestMeta): Promise<DeviceView> {
    const device = await this.d.access.administered(caller, id);
    const revoked = () => new DomainError("permission_denied", "DEVICE_REVOKED", "the device was revoked");
    if (device.revokedAt) throw revoked();
    const updated = await this.d.store.transaction(async (tx) => {
      const row = await tx.devices.setTrusted(device.id, trusted);
      if (!row) throw revoked();
      await this.d.audit.record(tx, {
        eventType: "device.trust",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "device",
        targetId: device.id,
        details: { organization_id: device.organizationId, user_id: device.userId, trusted: String(trusted) },
      });
      return row;
    });
    await this.d.bus.publish([{ topic: "device", id: device.id }]);
    return this.view(updated);
  }
}
