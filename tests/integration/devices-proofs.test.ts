import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChallengePurpose, DeviceKeyType, DeviceService, type Device } from "../../gen/warden/device/v1/device_service_pb.js";
import { DeviceChallenges } from "../../src/domain/device/device-challenges.js";
import { DeviceProofs } from "../../src/domain/device/device-proofs.js";
import { DomainError } from "../../src/domain/errors.js";
import { queryRows } from "../helpers/database.js";
import { deviceKey, deviceProof, registerDevice, type DeviceKey } from "../helpers/device-keys.js";
import { expectError, expectRateLimited, outcome } from "../helpers/expect-error.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";
import { unknownId, useTenancyWorld, type Team } from "../helpers/tenancy-world.js";

const CHALLENGE_ID = /^dch_[A-Za-z0-9_-]{43}$/;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** The outcome of a verification as "OK" or "<kind>:<reason>". */
async function verdict(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "OK";
  } catch (err) {
    if (err instanceof DomainError) return `${err.kind}:${err.reason}`;
    throw err;
  }
}
const INVALID = "unauthenticated:DEVICE_PROOF_INVALID";

describe("device challenges and proofs", () => {
  const w = useTenancyWorld({ max_organizations_per_user: 1000 });
  let devices: Client<typeof DeviceService>;
  let team: Team;
  let live: { device: Device; key: DeviceKey };
  let p256: { device: Device; key: DeviceKey };
  let revoked: { device: Device; key: DeviceKey };
  /** The verifier the sign-in paths call, on this app's database and clock. */
  let proofs: DeviceProofs;
  beforeAll(async () => {
    devices = w.t.client(DeviceService);
    team = await w.team("proofs");
    live = await registerDevice(devices, team.id, { as: team.member.as });
    p256 = await registerDevice(devices, team.id, { as: team.member.as, kind: "p256" });
    revoked = await registerDevice(devices, team.id, { as: team.member.as });
    await devices.revokeDevice({ id: revoked.device.id }, team.member.as);
    const { store } = w.t.app.hooks;
    proofs = new DeviceProofs({ store, clock: w.t.clock, challenges: new DeviceChallenges({ store, clock: w.t.clock }) });
  });

  const challengeFor = async (deviceId: string, purpose = ChallengePurpose.SIGN_IN) => (await devices.createDeviceChallenge({ deviceId, purpose })).challenge!;

  describe("CreateDeviceChallenge", () => {
    it("needs no credential and answers the same shape for a live, an unknown and a revoked device", async () => {
      const answers = await Promise.all([live.device.id, unknownId(), revoked.device.id].map((id) => challengeFor(id)));
      const ids = [live.device.id, "", revoked.device.id];
      answers.forEach((c, i) => {
        expect(c.challengeId).toMatch(CHALLENGE_ID);
        const deviceId = ids[i] || c.payload.split(":")[2]!;
        expect(c.payload).toMatch(new RegExp(`^warden-device-v1:sign_in:${deviceId}:[A-Za-z0-9_-]{32}$`));
        expect(timestampDate(c.expireTime!).getTime() - w.t.clock.now().getTime()).toBe(300_000);
      });
      // Every one is stored alike (only by its hash), so not even the work done differs.
      for (const c of answers)
        expect(await queryRows(w.t.app.hooks.db, sql`select 1 from device_challenges where id = ${sha256(c.challengeId)}`)).toHaveLength(1);
      const refresh = await challengeFor(live.device.id, ChallengePurpose.REFRESH);
      expect(refresh.payload.startsWith(`warden-device-v1:refresh:${live.device.id}:`)).toBe(true);
    });

    it("refuses an unspecified purpose and a malformed device id (request validation)", async () => {
      await expectError(devices.createDeviceChallenge({ deviceId: live.device.id, purpose: ChallengePurpose.UNSPECIFIED }), Code.InvalidArgument);
      await expectError(devices.createDeviceChallenge({ deviceId: "not-a-uuid", purpose: ChallengePurpose.SIGN_IN }), Code.InvalidArgument);
    });

    it("sweeps expired challenges as new ones are made", async () => {
      const old = await challengeFor(live.device.id);
      w.t.clock.advance(301 + 60);
      await challengeFor(live.device.id);
      expect(await queryRows(w.t.app.hooks.db, sql`select 1 from device_challenges where id = ${sha256(old.challengeId)}`)).toHaveLength(0);
      const expired = await queryRows(w.t.app.hooks.db, sql`select 1 from device_challenges where expires_at < ${w.t.clock.now().toISOString()}::timestamptz`);
      expect(expired).toHaveLength(0);
    });
  });

  describe("DeviceProofVerifier", () => {
    const sign = async (d: { device: Device; key: DeviceKey }, purpose: "sign_in" | "refresh" = "sign_in", encoding?: "der" | "p1363") => {
      const c = await challengeFor(d.device.id, purpose === "sign_in" ? ChallengePurpose.SIGN_IN : ChallengePurpose.REFRESH);
      return { deviceId: d.device.id, challengeId: c.challengeId, signature: d.key.sign(c.payload, encoding) };
    };

    it("accepts the device's signature over a fresh challenge, for its own user, and records when it was seen", async () => {
      w.t.clock.advance(7);
      const device = await proofs.verify(await sign(live), "sign_in", team.member.id);
      expect([device.id, device.lastSeenAt]).toEqual([live.device.id, w.t.clock.now()]);
      expect((await devices.getDevice({ id: live.device.id }, team.member.as)).device!.lastSeenTime).toBeDefined();
      expect(await verdict(proofs.verify(await sign(live, "refresh"), "refresh", team.member.id))).toBe("OK");
      for (const encoding of ["der", "p1363"] as const)
        expect(await verdict(proofs.verify(await sign(p256, "sign_in", encoding), "sign_in", team.member.id))).toBe("OK");
      const helper = await deviceProof(devices, live.device.id, live.key, "refresh");
      expect(await verdict(proofs.verify(helper, "refresh", team.member.id))).toBe("OK");
    });

    it("each challenge once: a second use fails, and of parallel uses exactly one passes", async () => {
      const proof = await sign(live);
      expect(await verdict(proofs.verify(proof, "sign_in", team.member.id))).toBe("OK");
      expect(await verdict(proofs.verify(proof, "sign_in", team.member.id))).toBe(INVALID);
      const racing = await sign(live);
      const results = await Promise.all(Array.from({ length: 5 }, () => verdict(proofs.verify(racing, "sign_in", team.member.id))));
      expect(results.filter((r) => r === "OK")).toHaveLength(1);
      expect(results.filter((r) => r === INVALID)).toHaveLength(4);
    });

    it("refuses every other proof with DEVICE_PROOF_INVALID", async () => {
      const other = await registerDevice(devices, team.id, { as: team.admin.as });
      const cases: Record<string, () => Promise<unknown>> = {
        "a refresh challenge used to sign in": async () => proofs.verify(await sign(live, "refresh"), "sign_in", team.member.id),
        "a sign-in challenge used to refresh": async () => proofs.verify(await sign(live, "sign_in"), "refresh", team.member.id),
        "another device's challenge": async () => proofs.verify({ ...(await sign(live)), deviceId: p256.device.id }, "sign_in", team.member.id),
        "a signature by another key": async () => {
          const c = await challengeFor(live.device.id);
          return proofs.verify({ deviceId: live.device.id, challengeId: c.challengeId, signature: deviceKey().sign(c.payload) }, "sign_in", team.member.id);
        },
        "a signature over another payload": async () => {
          const [a, b] = [await challengeFor(live.device.id), await challengeFor(live.device.id)];
          return proofs.verify({ deviceId: live.device.id, challengeId: a.challengeId, signature: live.key.sign(b.payload) }, "sign_in", team.member.id);
        },
        "an empty signature": async () => proofs.verify({ ...(await sign(live)), signature: new Uint8Array() }, "sign_in", team.member.id),
        "another user's device": async () => proofs.verify(await sign(other), "sign_in", team.member.id),
        "an unknown device": async () => {
          const id = unknownId();
          const c = await challengeFor(id);
          return proofs.verify({ deviceId: id, challengeId: c.challengeId, signature: live.key.sign(c.payload) }, "sign_in", team.member.id);
        },
        "an expired challenge": async () => {
          const proof = await sign(live);
          w.t.clock.advance(301);
          return proofs.verify(proof, "sign_in", team.member.id);
        },
        "a challenge id nobody issued": async () =>
          proofs.verify({ deviceId: live.device.id, challengeId: `dch_${"A".repeat(43)}`, signature: new Uint8Array(64) }, "sign_in", team.member.id),
        "a malformed challenge id": async () =>
          proofs.verify({ deviceId: live.device.id, challengeId: "x", signature: new Uint8Array(64) }, "sign_in", team.member.id),
        "a malformed device id": async () => proofs.verify({ ...(await sign(live)), deviceId: "x" }, "sign_in", team.member.id),
        "a registration challenge": async () => {
          const key = deviceKey();
          const { challenge } = await devices.registerDevice({ organizationId: team.id, name: "n", publicKey: key.publicKeyPem }, team.member.as);
          return proofs.verify(
            { deviceId: live.device.id, challengeId: challenge!.challengeId, signature: key.sign(challenge!.payload) },
            "sign_in",
            team.member.id,
          );
        },
      };
      const results: Record<string, string> = {};
      for (const [name, run] of Object.entries(cases)) results[name] = await verdict(run());
      expect(results).toEqual(Object.fromEntries(Object.keys(cases).map((k) => [k, INVALID])));
    });

    it("a revoked device: DEVICE_REVOKED, but only to the holder of its key", async () => {
      expect(await verdict(proofs.verify(await sign(revoked), "sign_in", team.member.id))).toBe("unauthenticated:DEVICE_REVOKED");
      const c = await challengeFor(revoked.device.id);
      expect(
        await verdict(
          proofs.verify({ deviceId: revoked.device.id, challengeId: c.challengeId, signature: deviceKey().sign(c.payload) }, "sign_in", team.member.id),
        ),
      ).toBe(INVALID);
    });

    it("a challenge issued while the device was live fails once it is revoked", async () => {
      const d = await registerDevice(devices, team.id, { as: team.member.as });
      const proof = await sign(d);
      await devices.revokeDevice({ id: d.device.id }, team.member.as);
      expect(await verdict(proofs.verify(proof, "sign_in", team.member.id))).toBe("unauthenticated:DEVICE_REVOKED");
    });
  });

  describe("keys made and signed with the openssl command line", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "warden-openssl-"));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });

    /** Both RegisterDevice calls, signing with `signWith` (it gets payload.txt and writes sig.bin). */
    const registerWith = async (publicKeyPem: string, signWith: () => void) => {
      const request = { organizationId: team.id, name: "openssl", publicKey: publicKeyPem, platform: "linux" };
      const { challenge } = await devices.registerDevice(request, team.owner.as);
      // The payload is signed exactly as sent: no trailing newline.
      writeFileSync(join(dir, "payload.txt"), challenge!.payload);
      signWith();
      const signature = readFileSync(join(dir, "sig.bin"));
      return (await devices.registerDevice({ ...request, challengeId: challenge!.challengeId, signature }, team.owner.as)).device!;
    };

    it("Ed25519: genpkey, pkey -pubout, pkeyutl -sign -rawin", async () => {
      openssl("genpkey", "-algorithm", "ed25519", "-out", "ed25519.pem");
      openssl("pkey", "-in", "ed25519.pem", "-pubout", "-out", "ed25519.pub.pem");
      const device = await registerWith(readFileSync(join(dir, "ed25519.pub.pem"), "utf8"), () =>
        openssl("pkeyutl", "-sign", "-rawin", "-inkey", "ed25519.pem", "-in", "payload.txt", "-out", "sig.bin"),
      );
      expect(device.keyType).toBe(DeviceKeyType.ED25519);
      const der = openssl("pkey", "-in", "ed25519.pem", "-pubout", "-outform", "DER");
      expect(device.keyFingerprint).toBe(createHash("sha256").update(der).digest("hex"));
    });

    it("P-256: ecparam -genkey, ec -pubout, dgst -sha256 -sign (DER signature)", async () => {
      openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "p256.pem");
      openssl("ec", "-in", "p256.pem", "-pubout", "-out", "p256.pub.pem");
      const device = await registerWith(readFileSync(join(dir, "p256.pub.pem"), "utf8"), () =>
        openssl("dgst", "-sha256", "-sign", "p256.pem", "-out", "sig.bin", "payload.txt"),
      );
      expect(device.keyType).toBe(DeviceKeyType.P256);
      // And a sign-in challenge answered the same way.
      const { challenge } = await devices.createDeviceChallenge({ deviceId: device.id, purpose: ChallengePurpose.SIGN_IN });
      writeFileSync(join(dir, "payload.txt"), challenge!.payload);
      openssl("dgst", "-sha256", "-sign", "p256.pem", "-out", "sig.bin", "payload.txt");
      const proof = { deviceId: device.id, challengeId: challenge!.challengeId, signature: readFileSync(join(dir, "sig.bin")) };
      expect(await verdict(proofs.verify(proof, "sign_in", team.owner.id))).toBe("OK");
    });
  });
});

describe("CreateDeviceChallenge's per-address quota", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ device_challenges_per_address_per_hour: 3 });
  });
  afterAll(async () => t?.close());

  it("counts every challenge from an address, for any device", async () => {
    const devices = t.client(DeviceService);
    for (let i = 0; i < 3; i++) expect(await outcome(devices.createDeviceChallenge({ deviceId: unknownId(), purpose: ChallengePurpose.SIGN_IN }))).toBe("OK");
    await expectRateLimited(devices.createDeviceChallenge({ deviceId: unknownId(), purpose: ChallengePurpose.SIGN_IN }));
  });
});
