import type { Clock } from "../../clock.js";
import type { AuditLog } from "../audit/audit-log.js";
import { auditActor } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, permissionDenied, unauthenticated } from "../errors.js";
import type { OrgGrant } from "../org/org-access.js";
import type { OrgPolicyReader } from "../orgpolicy/org-policy-settings.js";
import type { Principal } from "../principal.js";
import type { DeviceRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { DeviceStore } from "../store/device-store.js";
import type { Ports } from "../store/transactional.js";
import type { DeviceChallenges, IssuedChallenge } from "./device-challenges.js";
import { parseDevicePublicKey, verifyDeviceSignature, type DevicePublicKey } from "./device-keys.js";

export interface DeviceRegistrationDeps {
  store: Ports<{ devices: DeviceStore; audit: Pick<AuditStore, "append"> }>;
  clock: Clock;
  audit: AuditLog;
  challenges: DeviceChallenges;
  orgPolicy: OrgPolicyReader;
}

export interface RegisterRequest {
  name: string;
  publicKey: string;
  platform: string;
  /** Empty on the first call. */
  challengeId: string;
  signature: Uint8Array;
}

/**
 * Registering a device takes two calls: the first checks the key and returns a challenge bound
 * to the caller, the organization and the key; the second presents the key's signature over it
 * and creates the device, within the organization's per-user limit.
 */
export class DeviceRegistration {
  constructor(private readonly d: DeviceRegistrationDeps) {}

  async register(
    caller: Principal,
    grant: OrgGrant,
    req: RegisterRequest,
    meta: RequestMeta,
  ): Promise<{ challenge: IssuedChallenge; device?: undefined } | { device: DeviceRow; challenge?: undefined }> {
    // A device is a person's machine: a credential cannot enrol one for itself or anyone.
    if (caller.kind !== "user") throw permissionDenied("USER_SESSION_REQUIRED", "devices are registered by signed-in users, not by machine credentials");
    const key = parseDevicePublicKey(req.publicKey);
    const organizationId = grant.organization.id;
    const binding = { purpose: "register", userId: caller.userId, organizationId, keyFingerprint: key.fingerprint } as const;
    if (!req.challengeId) {
      // Checked now so the client hears it before it signs; checked again when the device is created.
      await this.checkNotRegistered(organizationId, key);
      await this.checkLimit(organizationId, caller.userId, await this.maxPerUser(organizationId));
      return { challenge: await this.d.challenges.issue(binding) };
    }
    const challenge = await this.d.challenges.consume(req.challengeId, binding);
    if (!challenge || !verifyDeviceSignature(key, challenge.payload, req.signature)) {
      await this.d.audit.recordAlone({
        eventType: "device.register",
        outcome: "failure",
        ...auditActor(caller, meta),
        targetType: "device_key",
        targetId: key.fingerprint,
        details: { organization_id: organizationId, reason: challenge ? "signature_invalid" : "challenge_invalid" },
      });
      throw unauthenticated("DEVICE_PROOF_INVALID", "the challenge is unknown, used or expired, or the signature does not verify");
    }
    const settings = (await this.d.orgPolicy.settings(organizationId)).device;
    const device = await this.d.store.transaction(async (tx) => {
      await tx.devices.lockRegistrations(organizationId, caller.userId);
      await this.checkLimit(organizationId, caller.userId, settings.maxPerUser, tx);
      const row = await tx.devices.insert({
        organizationId,
        userId: caller.userId,
        name: req.name.trim(),
        platform: req.platform.trim(),
        keyType: key.keyType,
        publicKey: key.pem,
        keyFingerprint: key.fingerprint,
        trusted: settings.autoTrust,
        createdAt: this.d.clock.now(),
      });
      if (!row) throw alreadyRegistered();
      await this.d.audit.record(tx, {
        eventType: "device.register",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "device",
        targetId: row.id,
        details: { organization_id: organizationId, key_type: key.keyType, key_fingerprint: key.fingerprint, trusted: String(row.trusted) },
      });
      return row;
    });
    return { device };
  }

  private async maxPerUser(organizationId: string): Promise<number> {
    return (await this.d.orgPolicy.settings(organizationId)).device.maxPerUser;
  }

  private async checkNotRegistered(organizationId: string, key: DevicePublicKey): Promise<void> {
    if (await this.d.store.devices.findLiveByFingerprint(organizationId, key.fingerprint)) throw alreadyRegistered();
  }

  /** 0 means no limit. Inside the creating transaction, after lockRegistrations, the count is exact. */
  private async checkLimit(organizationId: string, userId: string, max: number, tx: { devices: Pick<DeviceStore, "countLive"> } = this.d.store): Promise<void> {
    if (max <= 0) return;
    if ((await tx.devices.countLive(organizationId, userId)) >= max)
      throw new DomainError("failed_precondition", "DEVICE_LIMIT_REACHED", `the organization allows ${max} devices per user`);
  }
}

const alreadyRegistered = () => new DomainError("already_exists", "DEVICE_ALREADY_REGISTERED", "this key is registered already in the organization");
