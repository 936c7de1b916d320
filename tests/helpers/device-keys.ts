import { createHash, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import type { CallOptions, Client } from "@connectrpc/connect";
import { ChallengePurpose, DeviceService, type Device, type DeviceChallenge } from "../../gen/warden/device/v1/device_service_pb.js";

export type DeviceKeyKind = "ed25519" | "p256";

/** A device's key pair, as a device agent would hold it. */
export interface DeviceKey {
  kind: DeviceKeyKind;
  /** PEM SubjectPublicKeyInfo, what RegisterDevice takes. */
  publicKeyPem: string;
  privateKey: KeyObject;
  /** SHA-256 (hex) of the DER SubjectPublicKeyInfo, as the server computes it. */
  fingerprint: string;
  /**
   * Signs the payload's UTF-8 bytes: Ed25519 raw; P-256 with SHA-256, DER (openssl's form)
   * unless `p1363` asks for the 64-byte r||s form (WebCrypto's).
   */
  sign(payload: string, encoding?: "der" | "p1363"): Uint8Array;
}

export function deviceKey(kind: DeviceKeyKind = "ed25519"): DeviceKey {
  const { publicKey, privateKey } = kind === "ed25519" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return {
    kind,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKey,
    fingerprint: createHash("sha256")
      .update(publicKey.export({ type: "spki", format: "der" }))
      .digest("hex"),
    sign(payload, encoding = "der") {
      const data = Buffer.from(payload, "utf8");
      if (kind === "ed25519") return new Uint8Array(sign(null, data, privateKey));
      return new Uint8Array(sign("sha256", data, { key: privateKey, dsaEncoding: encoding === "p1363" ? "ieee-p1363" : "der" }));
    },
  };
}

export interface RegisterDeviceOptions {
  /** The signed-in user's call options. */
  as: CallOptions;
  /** A new Ed25519 key unless given (or `kind` asks for P-256). */
  key?: DeviceKey;
  kind?: DeviceKeyKind;
  name?: string;
  platform?: string;
  encoding?: "der" | "p1363";
}

export interface RegisteredDevice {
  device: Device;
  key: DeviceKey;
  /** The registration challenge that was signed. */
  challenge: DeviceChallenge;
}

let serial = 0;

/** The two-call registration: ask for a challenge for the key, sign its payload, register. */
export async function registerDevice(client: Client<typeof DeviceService>, organizationId: string, opts: RegisterDeviceOptions): Promise<RegisteredDevice> {
  const key = opts.key ?? deviceKey(opts.kind);
  const request = { organizationId, name: opts.name ?? `device-${++serial}`, publicKey: key.publicKeyPem, platform: opts.platform ?? "linux" };
  const { challenge } = await client.registerDevice(request, opts.as);
  if (!challenge) throw new Error("RegisterDevice returned no challenge");
  const { device } = await client.registerDevice(
    { ...request, challengeId: challenge.challengeId, signature: key.sign(challenge.payload, opts.encoding) },
    opts.as,
  );
  if (!device) throw new Error("RegisterDevice returned no device");
  return { device, key, challenge };
}

/** A device proof for a sign-in or refresh: a fresh challenge for the device, signed with its key. */
export async function deviceProof(
  client: Client<typeof DeviceService>,
  deviceId: string,
  key: DeviceKey,
  purpose: "sign_in" | "refresh",
): Promise<{ deviceId: string; challengeId: string; signature: Uint8Array }> {
  const { challenge } = await client.createDeviceChallenge({
    deviceId,
    purpose: purpose === "sign_in" ? ChallengePurpose.SIGN_IN : ChallengePurpose.REFRESH,
  });
  return { deviceId, challengeId: challenge!.challengeId, signature: key.sign(challenge!.payload) };
}
