import { createHash, ECDH, generateKeyPairSync, sign } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { DeviceKeyType, DeviceService } from "../../gen/warden/device/v1/device_service_pb.js";
import { OrgPolicyConfigService } from "../../gen/warden/orgpolicy/v1/org_policy_config_service_pb.js";
import { queryRows } from "../helpers/database.js";
import { deviceKey, registerDevice, type DeviceKey } from "../helpers/device-keys.js";
import { expectError, outcome, tally } from "../helpers/expect-error.js";
import { cellsOf, useTenancyWorld, type Caller, type Team } from "../helpers/tenancy-world.js";

const CHALLENGE_ID = /^dch_[A-Za-z0-9_-]{43}$/;
const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");
const PROOF_INVALID = "Unauthenticated:DEVICE_PROOF_INVALID";
const KEY_INVALID = "InvalidArgument:PUBLIC_KEY_INVALID";

describe("RegisterDevice", () => {
  const w = useTenancyWorld({ max_organizations_per_user: 1000 });
  let devices: Client<typeof DeviceService>;
  let team: Team;
  let other: Team;
  beforeAll(async () => {
    devices = w.t.client(DeviceService);
    [team, other] = await Promise.all([w.team("reg"), w.team("reg-other")]);
  });

  const start = (caller: Caller, key: DeviceKey, orgId = team.id, name = "laptop") =>
    devices.registerDevice({ organizationId: orgId, name, publicKey: key.publicKeyPem, platform: "macos" }, caller.as);
  const finish = (caller: Caller, key: DeviceKey, challengeId: string, signature: Uint8Array, orgId = team.id) =>
    devices.registerDevice({ organizationId: orgId, name: "laptop", publicKey: key.publicKeyPem, platform: "macos", challengeId, signature }, caller.as);
  const auditOf = (targetId: string) =>
    queryRows<{ event_type: string; outcome: string; actor_id: string; details: Record<string, string> }>(
      w.t.app.hooks.db,
      sql`select event_type, outcome, actor_id, details from audit_events where target_id = ${targetId} order by sequence`,
    );

  describe("the challenge", () => {
    it("is bound to the caller, the organization and the key; stored only as its SHA-256; five minutes long", async () => {
      const key = deviceKey();
      const { challenge, device } = await start(team.member, key);
      expect(device).toBeUndefined();
      expect(challenge!.challengeId).toMatch(CHALLENGE_ID);
      expect(challenge!.payload).toMatch(new RegExp(`^warden-device-v1:register:${key.fingerprint}:org=${team.id}:user=${team.member.id}:[A-Za-z0-9_-]{32}$`));
      expect(timestampDate(challenge!.expireTime!).getTime() - w.t.clock.now().getTime()).toBe(300_000);
      const rows = await queryRows(w.t.app.hooks.db, sql`select * from device_challenges where id = ${sha256(challenge!.challengeId)}`);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        purpose: "register",
        user_id: team.member.id,
        organization_id: team.id,
        key_fingerprint: key.fingerprint,
        used_at: null,
      });
      const all = await queryRows(w.t.app.hooks.db, sql`select * from device_challenges`);
      for (const cell of cellsOf(all)) expect(cell).not.toContain(challenge!.challengeId.slice(4));
    });

    it("differs every time, even for the same key", async () => {
      const key = deviceKey();
      const [a, b] = await Promise.all([start(team.member, key), start(team.member, key)]);
      expect(a.challenge!.challengeId).not.toBe(b.challenge!.challengeId);
      expect(a.challenge!.payload).not.toBe(b.challenge!.payload);
    });
  });

  describe("registers a device that proves its key", () => {
    it.each([
      ["Ed25519", "ed25519", "der", DeviceKeyType.ED25519],
      ["P-256, DER signature", "p256", "der", DeviceKeyType.P256],
      ["P-256, IEEE P1363 signature", "p256", "p1363", DeviceKeyType.P256],
    ] as const)("%s", async (_label, kind, encoding, keyType) => {
      const key = deviceKey(kind);
      if (kind === "p256") expect(key.sign("x", encoding).length === 64).toBe(encoding === "p1363");
      const { device } = await registerDevice(devices, team.id, { as: team.member.as, key, encoding, name: ` ${kind} box `, platform: "linux" });
      expect(device).toMatchObject({
        organizationId: team.id,
        userId: team.member.id,
        name: `${kind} box`,
        platform: "linux",
        keyType,
        keyFingerprint: key.fingerprint,
        publicKey: key.publicKeyPem,
        trusted: false,
      });
      expect(device.revokeTime).toBeUndefined();
      expect(device.posture?.fresh).toBe(false);
      expect(timestampDate(device.createTime!)).toEqual(w.t.clock.now());
      const audit = await auditOf(device.id);
      expect(audit).toEqual([
        {
          event_type: "device.register",
          outcome: "success",
          actor_id: team.member.id,
          details: { organization_id: team.id, key_type: kind, key_fingerprint: key.fingerprint, trusted: "false" },
        },
      ]);
    });

    it("stores the key in one canonical form: a compressed P-256 point registers as the same key", async () => {
      const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
      const der = publicKey.export({ type: "spki", format: "der" });
      const point = der.subarray(der.length - 65);
      const compressed = ECDH.convertKey(point, "prime256v1", undefined, undefined, "compressed") as Buffer;
      const prefix = Buffer.from("3039301306072a8648ce3d020106082a8648ce3d030107032200", "hex");
      const spki = Buffer.concat([prefix, compressed]);
      const pem = `-----BEGIN PUBLIC KEY-----\n${spki.toString("base64")}\n-----END PUBLIC KEY-----\n`;
      const key: DeviceKey = {
        ...deviceKey("p256"),
        privateKey,
        publicKeyPem: pem,
        sign: (payload) => new Uint8Array(sign("sha256", Buffer.from(payload), privateKey)),
      };
      const { device } = await registerDevice(devices, team.id, { as: team.member.as, key });
      expect(device.publicKey).toBe(publicKey.export({ type: "spki", format: "pem" }).toString());
      expect(device.keyFingerprint).toBe(sha256(der));
      // So the same key in its usual encoding is the same registration.
      await expectError(start(team.member, { ...key, publicKeyPem: device.publicKey }), Code.AlreadyExists, "DEVICE_ALREADY_REGISTERED");
    });
  });

  describe("refuses a proof that is not the key's answer to this challenge", () => {
    it("a signature by another key: DEVICE_PROOF_INVALID, audited, and the challenge is spent", async () => {
      const key = deviceKey();
      const { challenge } = await start(team.member, key);
      expect(await outcome(finish(team.member, key, challenge!.challengeId, deviceKey().sign(challenge!.payload)))).toBe(PROOF_INVALID);
      const [failure] = await auditOf(key.fingerprint);
      expect(failure).toMatchObject({ event_type: "device.register", outcome: "failure", actor_id: team.member.id });
      expect(failure!.details).toEqual({ organization_id: team.id, reason: "signature_invalid" });
      // Single use: even the right signature cannot use it now.
      expect(await outcome(finish(team.member, key, challenge!.challengeId, key.sign(challenge!.payload)))).toBe(PROOF_INVALID);
    });

    it("a signature over another payload (another challenge's, or the payload altered)", async () => {
      const key = deviceKey();
      const [a, b] = await Promise.all([start(team.member, key), start(team.member, key)]);
      expect(await outcome(finish(team.member, key, a.challenge!.challengeId, key.sign(b.challenge!.payload)))).toBe(PROOF_INVALID);
      expect(await outcome(finish(team.member, key, b.challenge!.challengeId, key.sign(`${b.challenge!.payload} `)))).toBe(PROOF_INVALID);
    });

    it("an empty or truncated signature", async () => {
      for (const kind of ["ed25519", "p256"] as const) {
        const key = deviceKey(kind);
        const [a, b] = await Promise.all([start(team.member, key), start(team.member, key)]);
        expect(await outcome(finish(team.member, key, a.challenge!.challengeId, new Uint8Array()))).toBe(PROOF_INVALID);
        expect(await outcome(finish(team.member, key, b.challenge!.challengeId, key.sign(b.challenge!.payload).slice(0, -1)))).toBe(PROOF_INVALID);
      }
    });

    it("a used challenge (single use)", async () => {
      const key = deviceKey();
      const { challenge } = await registerDevice(devices, team.id, { as: team.member.as, key });
      expect(await outcome(finish(team.member, key, challenge.challengeId, key.sign(challenge.payload)))).toBe(PROOF_INVALID);
    });

    it("an expired challenge", async () => {
      const key = deviceKey();
      const { challenge } = await start(team.member, key);
      w.t.clock.advance(301);
      expect(await outcome(finish(team.member, key, challenge!.challengeId, key.sign(challenge!.payload)))).toBe(PROOF_INVALID);
    });

    it("a challenge made for another user, another organization or another key", async () => {
      const key = deviceKey();
      await w.join(other.id, other.owner, team.member, "member");
      const [forMember, forOtherOrg, forOtherKey] = await Promise.all([
        start(team.member, key),
        start(team.member, key, other.id),
        start(team.member, deviceKey()),
      ]);
      // The admin presents the member's challenge: same key, same organization, other user.
      expect(await outcome(finish(team.admin, key, forMember.challenge!.challengeId, key.sign(forMember.challenge!.payload)))).toBe(PROOF_INVALID);
      expect(await outcome(finish(team.member, key, forOtherOrg.challenge!.challengeId, key.sign(forOtherOrg.challenge!.payload)))).toBe(PROOF_INVALID);
      expect(await outcome(finish(team.member, key, forOtherKey.challenge!.challengeId, key.sign(forOtherKey.challenge!.payload)))).toBe(PROOF_INVALID);
      // A mismatched attempt does not spend the challenge of the right binding.
      const ok = await finish(team.member, key, forMember.challenge!.challengeId, key.sign(forMember.challenge!.payload));
      expect(ok.device?.keyFingerprint).toBe(key.fingerprint);
    });

    it("malformed challenge ids", async () => {
      const key = deviceKey();
      for (const id of ["x", "dch_short", `dch_${"A".repeat(43)}`]) expect(await outcome(finish(team.member, key, id, key.sign("x")))).toBe(PROOF_INVALID);
    });
  });

  describe("keys", () => {
    const pem = (type: string, der: Buffer) => `-----BEGIN ${type}-----\n${der.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END ${type}-----\n`;
    const spki = (k: { publicKey: { export(o: object): string | Buffer } }) => k.publicKey.export({ type: "spki", format: "pem" }).toString();
    const BAD_KEYS: [string, () => string][] = [
      ["RSA", () => spki(generateKeyPairSync("rsa", { modulusLength: 2048 }))],
      ["P-384", () => spki(generateKeyPairSync("ec", { namedCurve: "secp384r1" }))],
      ["secp256k1", () => spki(generateKeyPairSync("ec", { namedCurve: "secp256k1" }))],
      ["Ed448", () => spki(generateKeyPairSync("ed448"))],
      ["X25519", () => spki(generateKeyPairSync("x25519"))],
      ["an Ed25519 private key (PKCS#8)", () => generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString()],
      [
        "a P-256 private key (SEC1)",
        () => generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "sec1", format: "pem" }).toString(),
      ],
      ["an RSA public key (PKCS#1)", () => generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "pkcs1", format: "pem" }).toString()],
      ["two PEM blocks", () => deviceKey().publicKeyPem + deviceKey().publicKeyPem],
      ["text around the block", () => `my key:\n${deviceKey().publicKeyPem}`],
      ["a PEM block of garbage", () => pem("PUBLIC KEY", Buffer.from("not a key at all, just bytes"))],
      [
        "a truncated key",
        () => pem("PUBLIC KEY", (generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "der" }) as Buffer).subarray(0, 30)),
      ],
      ["raw base64 without armour", () => (generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "der" }) as Buffer).toString("base64")],
      ["garbage", () => "hello"],
    ];
    it.each(BAD_KEYS)("refuses %s: INVALID_ARGUMENT PUBLIC_KEY_INVALID", async (_label, make) => {
      const publicKey = make();
      expect(await outcome(devices.registerDevice({ organizationId: team.id, name: "bad", publicKey }, team.member.as))).toBe(KEY_INVALID);
      // The second call checks the key before anything else too.
      expect(
        await outcome(
          devices.registerDevice(
            { organizationId: team.id, name: "bad", publicKey, challengeId: `dch_${"A".repeat(43)}`, signature: new Uint8Array(64) },
            team.member.as,
          ),
        ),
      ).toBe(KEY_INVALID);
    });

    it("refuses an empty key and an empty name before the domain (request validation)", async () => {
      expect(await outcome(devices.registerDevice({ organizationId: team.id, name: "x", publicKey: "" }, team.member.as))).toBe(
        "InvalidArgument:INVALID_ARGUMENT",
      );
      expect(await outcome(devices.registerDevice({ organizationId: team.id, name: "  ", publicKey: deviceKey().publicKeyPem }, team.member.as))).toBe(
        "InvalidArgument:INVALID_ARGUMENT",
      );
    });

    it("a key is registered once per organization: ALREADY_EXISTS for anyone, at either call; another organization may have it", async () => {
      const key = deviceKey();
      const pending = await start(team.member, key);
      await registerDevice(devices, team.id, { as: team.member.as, key });
      await expectError(start(team.member, key), Code.AlreadyExists, "DEVICE_ALREADY_REGISTERED");
      await expectError(start(team.admin, key), Code.AlreadyExists, "DEVICE_ALREADY_REGISTERED");
      await expectError(
        finish(team.member, key, pending.challenge!.challengeId, key.sign(pending.challenge!.payload)),
        Code.AlreadyExists,
        "DEVICE_ALREADY_REGISTERED",
      );
      const elsewhere = await registerDevice(devices, other.id, { as: other.owner.as, key });
      expect(elsewhere.device.keyFingerprint).toBe(key.fingerprint);
    });

    it("a revoked device's key may be registered again", async () => {
      const key = deviceKey("p256");
      const first = await registerDevice(devices, team.id, { as: team.member.as, key });
      await devices.revokeDevice({ id: first.device.id }, team.member.as);
      const second = await registerDevice(devices, team.id, { as: team.member.as, key });
      expect(second.device.id).not.toBe(first.device.id);
    });
  });

  describe("who may register", () => {
    it("any member, viewers included, for themselves", async () => {
      const { device } = await registerDevice(devices, team.id, { as: team.viewer.as });
      expect(device.userId).toBe(team.viewer.id);
    });

    it("not a non-member (ORGANIZATION_ROLE_REQUIRED), nor a machine credential (USER_SESSION_REQUIRED)", async () => {
      await expectError(start(other.owner, deviceKey()), Code.PermissionDenied, "ORGANIZATION_ROLE_REQUIRED");
      const key = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.ADMIN]);
      await expectError(
        devices.registerDevice({ organizationId: team.id, name: "ci", publicKey: deviceKey().publicKeyPem }, key.as),
        Code.PermissionDenied,
        "USER_SESSION_REQUIRED",
      );
      const sa = await w.serviceAccount(team.owner.as, team.id);
      const token = await w.saToken(sa.sa.clientId, sa.secret);
      await expectError(
        devices.registerDevice({ organizationId: team.id, name: "ci", publicKey: deviceKey().publicKeyPem }, token.as),
        Code.PermissionDenied,
        "USER_SESSION_REQUIRED",
      );
    });
  });

  describe("the organization's device settings", () => {
    const settings = (orgId: string, device: { maxPerUser?: number; autoTrust?: boolean }, by: Caller) =>
      w.t.client(OrgPolicyConfigService).updateOrgPolicyConfig({ organizationId: orgId, device }, by.as);

    it("max_per_user holds under parallel registrations; revoking one frees a place", async () => {
      const t = await w.team("limit");
      await settings(t.id, { maxPerUser: 2 }, t.owner);
      const keys = Array.from({ length: 6 }, (_, i) => deviceKey(i % 2 ? "p256" : "ed25519"));
      // Every first call passes (no device yet); the limit is decided when devices are created.
      const starts = await Promise.all(keys.map((k) => start(t.member, k, t.id)));
      const results = await Promise.allSettled(
        keys.map((k, i) => finish(t.member, k, starts[i]!.challenge!.challengeId, k.sign(starts[i]!.challenge!.payload), t.id)),
      );
      expect(tally(results)).toEqual({ ok: 2, FailedPrecondition: 4 });
      const live = await devices.listDevices({ organizationId: t.id }, t.member.as);
      expect(live.devices).toHaveLength(2);
      await expectError(start(t.member, deviceKey(), t.id), Code.FailedPrecondition, "DEVICE_LIMIT_REACHED");
      // The limit is per user: another member is not affected.
      await registerDevice(devices, t.id, { as: t.admin.as });
      await devices.revokeDevice({ id: live.devices[0]!.id }, t.member.as);
      await registerDevice(devices, t.id, { as: t.member.as });
      await expectError(start(t.member, deviceKey(), t.id), Code.FailedPrecondition, "DEVICE_LIMIT_REACHED");
    });

    it("auto_trust trusts new devices at once (and the audit says so); devices before it stay as they were", async () => {
      const t = await w.team("auto");
      const before = await registerDevice(devices, t.id, { as: t.member.as });
      expect(before.device.trusted).toBe(false);
      await settings(t.id, { autoTrust: true }, t.owner);
      const after = await registerDevice(devices, t.id, { as: t.member.as });
      expect(after.device.trusted).toBe(true);
      expect((await auditOf(after.device.id))[0]!.details.trusted).toBe("true");
      expect((await devices.getDevice({ id: before.device.id }, t.member.as)).device!.trusted).toBe(false);
    });
  });
});
