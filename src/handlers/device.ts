import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ChallengePurpose,
  DeviceChallengeSchema,
  DeviceKeyType,
  DevicePostureSchema,
  DeviceSchema,
  DeviceService,
  type Device,
  type DeviceChallenge,
} from "../../gen/warden/device/v1/device_service_pb.js";
import type { IssuedChallenge } from "../domain/device/device-challenges.js";
import type { DeviceProofs } from "../domain/device/device-proofs.js";
import type { DeviceRegistration } from "../domain/device/device-registration.js";
import type { Devices, DeviceView } from "../domain/device/devices.js";
import { invalidArgument } from "../domain/errors.js";
import { grantOf, metaOf, principalOf } from "./call-context.js";

export function deviceHandlers(devices: Devices, registration: DeviceRegistration, proofs: DeviceProofs): ServiceImpl<typeof DeviceService> {
  return {
    async registerDevice(req, ctx) {
      const r = await registration.register(
        principalOf(ctx),
        grantOf(ctx),
        { name: req.name, publicKey: req.publicKey, platform: req.platform, challengeId: req.challengeId, signature: req.signature },
        metaOf(ctx),
      );
      return r.device ? { device: deviceToProto(devices.view(r.device)) } : { challenge: challengeToProto(r.challenge) };
    },
    async getDevice(req, ctx) {
      return { device: deviceToProto(await devices.get(principalOf(ctx), req.id)) };
    },
    async listDevices(req, ctx) {
      const page = await devices.list(principalOf(ctx), grantOf(ctx), { pageSize: req.pageSize, pageToken: req.pageToken, showRevoked: req.showRevoked });
      return { devices: page.items.map(deviceToProto), nextPageToken: page.nextPageToken };
    },
    async revokeDevice(req, ctx) {
      return await devices.revoke(principalOf(ctx), req.id, metaOf(ctx));
    },
    async trustDevice(req, ctx) {
      return { device: deviceToProto(await devices.trust(principalOf(ctx), req.id, req.trusted, metaOf(ctx))) };
    },
    async createDeviceChallenge(req) {
      return { challenge: challengeToProto(await proofs.challenge(req.deviceId, purposeFromProto(req.purpose))) };
    },
  };
}

function purposeFromProto(p: ChallengePurpose): "sign_in" | "refresh" {
  if (p === ChallengePurpose.SIGN_IN) return "sign_in";
  if (p === ChallengePurpose.REFRESH) return "refresh";
  throw invalidArgument("purpose", "must be CHALLENGE_PURPOSE_SIGN_IN or CHALLENGE_PURPOSE_REFRESH");
}

const KEY_TYPE_TO_PB: Record<string, DeviceKeyType> = { ed25519: DeviceKeyType.ED25519, p256: DeviceKeyType.P256 };

export function deviceToProto({ device: d, posture: p }: DeviceView): Device {
  return create(DeviceSchema, {
    id: d.id,
    organizationId: d.organizationId,
    userId: d.userId,
    name: d.name,
    platform: d.platform,
    keyType: KEY_TYPE_TO_PB[d.keyType] ?? DeviceKeyType.UNSPECIFIED,
    keyFingerprint: d.keyFingerprint,
    publicKey: d.publicKey,
    trusted: d.trusted,
    createTime: timestampFromDate(d.createdAt),
    lastSeenTime: d.lastSeenAt ? timestampFromDate(d.lastSeenAt) : undefined,
    revokeTime: d.revokedAt ? timestampFromDate(d.revokedAt) : undefined,
    posture: create(DevicePostureSchema, {
      os: p.os,
      osVersion: p.osVersion,
      diskEncrypted: p.diskEncrypted,
      screenLock: p.screenLock,
      agentVersion: p.agentVersion,
      reportTime: p.reportedAt ? timestampFromDate(p.reportedAt) : undefined,
      fresh: p.known,
    }),
  });
}

function challengeToProto(c: IssuedChallenge): DeviceChallenge {
  return create(DeviceChallengeSchema, { challengeId: c.challengeId, payload: c.payload, expireTime: timestampFromDate(c.expiresAt) });
}
