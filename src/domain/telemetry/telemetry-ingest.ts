import type { Clock } from "../../clock.js";
import { DomainError, permissionDenied } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import type { OrgGrant } from "../org/org-access.js";
import type { Principal } from "../principal.js";
import type { SessionStore } from "../store/session-store.js";
import type { DevicePostureUpdate, TelemetryStore } from "../store/telemetry-store.js";
import { checkEvents, eventError, type CheckedEvent, type EventPath, type TelemetryEventInput } from "./telemetry-event.js";
import type { ConcurrencyLimit } from "./insert-limit.js";
import type { TelemetryQuota } from "./telemetry-quota.js";

export interface TelemetryIngestDeps {
  store: {
    telemetry: Pick<TelemetryStore, "insertBatch" | "liveDevices">;
    sessions: Pick<SessionStore, "findById">;
  };
  clock: Clock;
  quota: Pick<TelemetryQuota, "take">;
  bus: Pick<InvalidationBus, "publish">;
  /** Inserts in flight on this instance (see ConcurrencyLimit). */
  inserts: Pick<ConcurrencyLimit, "run">;
}

/** Who the events are from, as stored on each row. */
interface Emitter {
  userId: string | null;
  serviceAccountId: string | null;
  /** Whose devices the caller may name; undefined: any device of the organization. */
  deviceOwner: string | undefined;
  /** The caller's session, whose bound device tags events that name none. */
  sessionId: string | undefined;
}

/**
 * Takes telemetry events from an organization's members and machine credentials: checked,
 * counted against the organization's per-minute budget, tagged with the caller and device,
 * and stored in one statement together with the posture they carry.
 *
 * Devices: a user (or a user's API key) names only the user's own live devices in the
 * organization; a service account (or its key) is the organization's own agent and names any
 * live device there. Any other device is PERMISSION_DENIED `DEVICE_ACCESS_DENIED`, whether it
 * exists or not, so ids cannot be probed.
 */
export class TelemetryIngest {
  constructor(private readonly d: TelemetryIngestDeps) {}

  /** How many events were stored (all of them, or an error and none). */
  async emit(caller: Principal, grant: OrgGrant, events: TelemetryEventInput[], path: EventPath, signal?: AbortSignal): Promise<number> {
    const now = this.d.clock.now();
    const checked = checkEvents(events, now, path);
    const organizationId = grant.organization.id;
    // Before any database work: an organization over its budget costs no reads.
    await this.d.quota.take(organizationId, checked.length);
    const emitter = emitterOf(caller);
    const devices = await this.resolveDevices(emitter, organizationId, checked, path);
    const postures = new Map<string, DevicePostureUpdate>();
    for (const e of checked) {
      // Checked events are the stored rows (no copy of a thousand objects): untagged ones take the session's device.
      const deviceId = (e.deviceId ??= devices.sessionDevice);
      if (!e.posture) continue;
      if (!deviceId) throw eventError(path, e.index, ".device_id", "a posture event needs a device: name one, or send from a session bound to one");
      // The newest report of each device in the batch; the store keeps it only if newer than the stored one.
      // A report dated ahead is taken as of now: a future date would keep it "fresh" longer and
      // shadow every honest report made until then.
      const at = e.occurredAt.getTime() > now.getTime() ? now : e.occurredAt;
      const prev = postures.get(deviceId);
      if (!prev || prev.at.getTime() <= at.getTime()) postures.set(deviceId, { deviceId, at, ...e.posture });
    }
    const batch = {
      organizationId,
      userId: emitter.userId,
      serviceAccountId: emitter.serviceAccountId,
      receivedAt: now,
      events: checked,
      postures: [...postures.values()],
    };
    const { postureChanged } = await this.d.inserts.run(() => {
      // A caller that gave up while this waited would retry: storing it now would store it twice.
      if (signal?.aborted) throw new DomainError("canceled", "CANCELED", "the caller went away before the events were stored");
      return this.d.store.telemetry.insertBatch(batch);
    });
    if (postureChanged.length) await this.d.bus.publish(postureChanged.map((id) => ({ topic: "device" as const, id })));
    return checked.length;
  }

  /**
   * Checks every named device and finds the session's bound device, in at most one session
   * read and one device read per call. A session device that is not live, or not the caller's
   * in this organization, tags nothing.
   */
  private async resolveDevices(emitter: Emitter, organizationId: string, events: CheckedEvent[], path: EventPath): Promise<{ sessionDevice: string | null }> {
    const named = new Map<string, number>();
    let needsSessionDevice = false;
    for (const e of events) {
      if (e.deviceId === null) needsSessionDevice = true;
      else if (!named.has(e.deviceId)) named.set(e.deviceId, e.index);
    }
    let sessionDevice: string | null = null;
    if (needsSessionDevice && emitter.sessionId) sessionDevice = (await this.d.store.sessions.findById(emitter.sessionId))?.deviceId ?? null;
    const ids = [...named.keys()];
    if (sessionDevice && !named.has(sessionDevice)) ids.push(sessionDevice);
    if (ids.length === 0) return { sessionDevice: null };
    const live = await this.d.store.telemetry.liveDevices(organizationId, ids);
    const allowed = new Set(live.filter((d) => emitter.deviceOwner === undefined || d.userId === emitter.deviceOwner).map((d) => d.id));
    for (const [id, index] of named)
      if (!allowed.has(id)) throw permissionDenied("DEVICE_ACCESS_DENIED", `${path(index)}.device_id: not a live device of the caller in this organization`);
    return { sessionDevice: sessionDevice && allowed.has(sessionDevice) ? sessionDevice : null };
  }
}

function emitterOf(p: Principal): Emitter {
  if (p.kind === "user") return { userId: p.userId, serviceAccountId: null, deviceOwner: p.userId, sessionId: p.sessionId };
  if (p.ownerUserId) return { userId: p.ownerUserId, serviceAccountId: null, deviceOwner: p.ownerUserId, sessionId: undefined };
  // A service account, or a key it owns: the organization's own agent.
  const serviceAccountId = p.kind === "service_account" ? p.id : (p.ownerServiceAccountId ?? null);
  if (serviceAccountId) return { userId: null, serviceAccountId, deviceOwner: undefined, sessionId: undefined };
  // A key owned by nobody names no devices.
  return { userId: null, serviceAccountId: null, deviceOwner: "", sessionId: undefined };
}
