import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeCertificate, decodeCertificateBlob, encodeCertificate, type CertificateOptions } from "../../src/crypto/ssh/ssh-certificate.js";
import { ed25519PublicBlob, ed25519SignatureBlob } from "../../src/crypto/ssh/ssh-ed25519.js";
import { authorizedKeysLine, sshFingerprint } from "../../src/crypto/ssh/ssh-key-line.js";
import { ed25519PublicKeyLine, parseSshPublicKey, SshKeyError, type SshPublicKey } from "../../src/crypto/ssh/ssh-public-key.js";
import { SshWireReader, SshWireWriter } from "../../src/crypto/ssh/ssh-wire.js";

const b64u = (text: string) => Uint8Array.from(Buffer.from(text, "base64url"));
const line = (blob: Uint8Array, comment?: string) => authorizedKeysLine(blob, comment);

/** Builds the wire blob of a node:crypto public key field by field, as RFC 4253/5656/8709 lay it out. */
function publicBlob(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: "jwk" });
  const out = new SshWireWriter();
  if (jwk.kty === "OKP") return out.utf8("ssh-ed25519").string(b64u(jwk.x!)).bytes();
  if (jwk.kty === "EC") {
    const curve = { "P-256": "nistp256", "P-384": "nistp384", "P-521": "nistp521" }[jwk.crv as "P-256"];
    return out
      .utf8(`ecdsa-sha2-${curve}`)
      .utf8(curve)
      .string(Uint8Array.of(4, ...b64u(jwk.x!), ...b64u(jwk.y!)))
      .bytes();
  }
  const big = (text: string) => BigInt(`0x${Buffer.from(text, "base64url").toString("hex")}`);
  return out.utf8("ssh-rsa").mpint(big(jwk.e!)).mpint(big(jwk.n!)).bytes();
}

const keys = {
  ed25519: generateKeyPairSync("ed25519").publicKey,
  p256: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey,
  p384: generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey,
  p521: generateKeyPairSync("ec", { namedCurve: "P-521" }).publicKey,
};
let rsa2048: KeyObject;
beforeAll(() => {
  rsa2048 = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
});

describe("parseSshPublicKey", () => {
  it.each([
    ["ssh-ed25519", () => keys.ed25519],
    ["ecdsa-sha2-nistp256", () => keys.p256],
    ["ecdsa-sha2-nistp384", () => keys.p384],
    ["ecdsa-sha2-nistp521", () => keys.p521],
    ["ssh-rsa", () => rsa2048],
  ])("reads a %s line back into the same key", (type, key) => {
    const blob = publicBlob(key());
    const parsed = parseSshPublicKey(`${line(blob)} alice@laptop  (work key)`);
    expect(parsed.type).toBe(type);
    expect(parsed.blob).toEqual(blob);
    expect(parsed.comment).toBe("alice@laptop  (work key)");
    expect(parsed.keyObject.export({ format: "jwk" })).toEqual(key().export({ format: "jwk" }));
  });

  it("accepts surrounding whitespace and tabs, and a line without a comment", () => {
    const blob = publicBlob(keys.ed25519);
    const [type, data] = line(blob).split(" ");
    expect(parseSshPublicKey(`  ${type}\t${data}\n`).comment).toBeUndefined();
  });

  it("refuses a line whose type differs from the type inside the blob", () => {
    const data = line(publicBlob(keys.ed25519)).split(" ")[1];
    expect(() => parseSshPublicKey(`ssh-rsa ${data}`)).toThrow("the line says ssh-rsa but the key data is ssh-ed25519");
    const p384 = line(publicBlob(keys.p384)).split(" ")[1];
    expect(() => parseSshPublicKey(`ecdsa-sha2-nistp256 ${p384}`)).toThrow(SshKeyError);
  });

  it("refuses trailing bytes after the key", () => {
    const blob = publicBlob(keys.ed25519);
    expect(() => parseSshPublicKey(line(Uint8Array.of(...blob, 0)))).toThrow("malformed public key: 1 trailing byte(s) after the ssh-ed25519 key");
  });

  it("refuses a truncated key", () => {
    const blob = publicBlob(keys.p256);
    expect(() => parseSshPublicKey(line(blob.subarray(0, blob.length - 1)))).toThrow(/malformed public key: truncated string/);
  });

  it("refuses RSA keys shorter than 2048 bits", () => {
    const short = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey;
    expect(() => parseSshPublicKey(line(publicBlob(short)))).toThrow("RSA key is 1024 bits; at least 2048 are required");
  });

  it.each([
    ["a character outside base64", "AAAAC3NzaC1lZDI1NTE5AAAAI!"],
    ["a length that is not a multiple of four", "AAAAC3NzaC1lZDI1NTE5A"],
    ["padding in the middle", "AA==AAAA"],
    ["non-zero padding bits", "AAB="],
  ])("refuses base64 with %s", (_, data) => {
    expect(() => parseSshPublicKey(`ssh-ed25519 ${data}`)).toThrow(/not (valid|canonical) base64/);
  });

  it("refuses lines that are not `<type> <base64>`", () => {
    expect(() => parseSshPublicKey("")).toThrow(SshKeyError);
    expect(() => parseSshPublicKey("ssh-ed25519")).toThrow("expected `<type> <base64> [comment]`");
    const [type, data] = line(publicBlob(keys.ed25519)).split(" ");
    expect(() => parseSshPublicKey(`${type} ${data}\n${type} ${data}`)).toThrow("found several lines");
  });

  it("refuses a certificate line as a public key", () => {
    const ca = generateKeyPairSync("ed25519").privateKey;
    const { line: certLine } = encodeCertificate(certOptions(ca, { publicKey: parseSshPublicKey(line(publicBlob(keys.ed25519))) }));
    expect(() => parseSshPublicKey(certLine)).toThrow("ssh-ed25519-cert-v01@openssh.com is a certificate, not a public key");
  });

  it("refuses unsupported key types", () => {
    const blob = new SshWireWriter().utf8("ssh-dss").string(new Uint8Array(8)).bytes();
    expect(() => parseSshPublicKey(line(blob))).toThrow(/unsupported key type "ssh-dss"; expected one of ssh-ed25519/);
  });

  it("refuses an Ed25519 key that is not a point on the curve", () => {
    const notAPoint = Uint8Array.of(2, ...new Uint8Array(31)); // y = 2: (y^2-1)/(dy^2+1) has no square root
    const tooBig = Uint8Array.of(...new Uint8Array(31).fill(0xff), 0x7f); // y = 2^255 - 1 >= p
    for (const x of [notAPoint, tooBig]) {
      expect(() => parseSshPublicKey(line(new SshWireWriter().utf8("ssh-ed25519").string(x).bytes()))).toThrow("not a point on the curve");
    }
    const short = new SshWireWriter().utf8("ssh-ed25519").string(new Uint8Array(31)).bytes();
    expect(() => parseSshPublicKey(line(short))).toThrow("an Ed25519 key is 32 bytes, not 31");
  });

  it("remembers only sound keys: a refused blob is refused again; a remembered one is handed out as a fresh copy", () => {
    const notAPoint = line(
      new SshWireWriter()
        .utf8("ssh-ed25519")
        .string(Uint8Array.of(2, ...new Uint8Array(31)))
        .bytes(),
    );
    expect(() => parseSshPublicKey(notAPoint)).toThrow("not a point on the curve");
    expect(() => parseSshPublicKey(notAPoint)).toThrow("not a point on the curve");
    const good = line(publicBlob(keys.ed25519));
    const first = parseSshPublicKey(good);
    first.blob.fill(0);
    const again = parseSshPublicKey(good);
    expect(again).not.toBe(first);
    expect(Buffer.from(again.blob)).toEqual(Buffer.from(publicBlob(keys.ed25519)));
    // Thousands of other keys later, the first one still parses the same way.
    for (let i = 0; i < 5000; i++) parseSshPublicKey(ed25519PublicKeyLine(generateKeyPairSync("ed25519").publicKey).line);
    expect(Buffer.from(parseSshPublicKey(good).blob)).toEqual(Buffer.from(publicBlob(keys.ed25519)));
  });

  it("refuses an ECDSA point off the curve, a compressed point, and a mismatched curve name", () => {
    const blob = publicBlob(keys.p256);
    const offCurve = blob.slice();
    offCurve[offCurve.length - 1] ^= 1;
    expect(() => parseSshPublicKey(line(offCurve))).toThrow("invalid P-256 (point not on the curve) public key");

    const jwk = keys.p256.export({ format: "jwk" });
    const compressed = new SshWireWriter()
      .utf8("ecdsa-sha2-nistp256")
      .utf8("nistp256")
      .string(Uint8Array.of(2 + (b64u(jwk.y!)[31] & 1), ...b64u(jwk.x!)))
      .bytes();
    expect(() => parseSshPublicKey(line(compressed))).toThrow("not an uncompressed P-256 point");

    const wrongCurve = new SshWireReader(blob);
    wrongCurve.utf8();
    wrongCurve.utf8();
    const renamed = new SshWireWriter().utf8("ecdsa-sha2-nistp256").utf8("nistp384").string(wrongCurve.string()).bytes();
    expect(() => parseSshPublicKey(line(renamed))).toThrow('ecdsa-sha2-nistp256 key names curve "nistp384"');
  });

  it("refuses an RSA key with an even exponent", () => {
    const jwk = rsa2048.export({ format: "jwk" });
    const n = BigInt(`0x${Buffer.from(jwk.n!, "base64url").toString("hex")}`);
    const blob = new SshWireWriter().utf8("ssh-rsa").mpint(4n).mpint(n).bytes();
    expect(() => parseSshPublicKey(line(blob))).toThrow("not a valid RSA value");
  });
});

describe("Ed25519 key lines and fingerprints", () => {
  // RFC 8032 section 7.1, TEST 1; the fingerprint is what `ssh-keygen -lf` prints for this line.
  const rfcPublicKey = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
  const rfcSecretKey = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

  it("renders the OpenSSH line and the fingerprint ssh-keygen prints", () => {
    const key = createPrivateKey({
      key: { kty: "OKP", crv: "Ed25519", d: Buffer.from(rfcSecretKey, "hex").toString("base64url"), x: Buffer.from(rfcPublicKey, "hex").toString("base64url") },
      format: "jwk",
    });
    const rendered = ed25519PublicKeyLine(key, "rfc8032-test-1");
    expect(rendered.line).toBe("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea rfc8032-test-1");
    expect(rendered.fingerprint).toBe("SHA256:bbXpuKG6zhzdmnxq256TlqzFBzRl2f6OOg722cYNbU8");
    expect(sshFingerprint(rendered.blob)).toBe(rendered.fingerprint);
    expect(parseSshPublicKey(rendered.line).blob).toEqual(ed25519PublicBlob(key));
  });

  it("refuses other key types and multi-line comments", () => {
    expect(() => ed25519PublicBlob(keys.p256)).toThrow("expected an Ed25519 key, got ec");
    expect(() => ed25519PublicKeyLine(keys.ed25519, "a\nb")).toThrow("cannot span lines");
  });
});

const ca = generateKeyPairSync("ed25519").privateKey;
const userKey = () => parseSshPublicKey(`${line(publicBlob(keys.ed25519))} alice@laptop`);

function certOptions(caKey: KeyObject, overrides: Partial<CertificateOptions> = {}): CertificateOptions {
  return {
    publicKey: userKey(),
    caPrivateKey: caKey,
    caPublicKeyBlob: ed25519PublicBlob(caKey),
    certType: "user",
    keyId: "alice@example.com",
    serial: 42n,
    principals: ["alice", "root"],
    validAfter: new Date("2024-01-01T00:00:00Z"),
    validBefore: new Date("2024-01-01T08:00:00Z"),
    criticalOptions: { "source-address": "10.0.0.0/8" },
    extensions: ["permit-pty"],
    ...overrides,
  };
}

describe("encodeCertificate and decodeCertificate", () => {
  it.each([
    ["ssh-ed25519", "user", () => keys.ed25519],
    ["ecdsa-sha2-nistp256", "host", () => keys.p256],
    ["ecdsa-sha2-nistp384", "user", () => keys.p384],
    ["ecdsa-sha2-nistp521", "host", () => keys.p521],
    ["ssh-rsa", "user", () => rsa2048],
  ] as const)("round-trips a %s %s certificate", (type, certType, key) => {
    const publicKey = parseSshPublicKey(line(publicBlob(key())));
    const opts = certOptions(ca, { publicKey, certType, serial: (1n << 64n) - 2n, comment: "issued by warden" });
    const { line: certLine, blob } = encodeCertificate(opts);
    expect(certLine.startsWith(`${type}-cert-v01@openssh.com `)).toBe(true);
    expect(certLine.endsWith(" issued by warden")).toBe(true);

    const decoded = decodeCertificate(certLine, { trustedCa: opts.caPublicKeyBlob });
    expect(decoded).toMatchObject({
      type: `${type}-cert-v01@openssh.com`,
      certType,
      serial: (1n << 64n) - 2n,
      keyId: "alice@example.com",
      principals: ["alice", "root"],
      validAfter: new Date("2024-01-01T00:00:00Z"),
      validBefore: new Date("2024-01-01T08:00:00Z"),
      criticalOptions: { "source-address": "10.0.0.0/8" },
      extensions: { "permit-pty": "" },
      signatureKeyFingerprint: sshFingerprint(opts.caPublicKeyBlob),
      comment: "issued by warden",
    });
    expect(decoded.nonce).toHaveLength(32);
    expect(decoded.blob).toEqual(blob);
    expect(decoded.publicKey.type).toBe(type);
    expect(decoded.publicKey.blob).toEqual(publicKey.blob);
    expect(decoded.publicKey.keyObject.equals(publicKey.keyObject)).toBe(true);
    expect(decoded.signatureKey.blob).toEqual(opts.caPublicKeyBlob);
  });

  it("lays the fields out in PROTOCOL.certkeys order, signed by the CA over everything before the signature", () => {
    const opts = certOptions(ca, { nonce: new Uint8Array(32).fill(7) });
    const { blob } = encodeCertificate(opts);
    const r = new SshWireReader(blob);
    expect(r.utf8()).toBe("ssh-ed25519-cert-v01@openssh.com");
    expect(r.string()).toEqual(new Uint8Array(32).fill(7));
    expect(r.string()).toEqual(b64u(keys.ed25519.export({ format: "jwk" }).x!)); // the key's own field: string pk
    expect(r.uint64()).toBe(42n);
    expect(r.uint32()).toBe(1);
    expect(r.utf8()).toBe("alice@example.com");
    expect(r.string()).toEqual(new SshWireWriter().utf8("alice").utf8("root").bytes());
    expect(r.uint64()).toBe(BigInt(Date.parse("2024-01-01T00:00:00Z") / 1000));
    expect(r.uint64()).toBe(BigInt(Date.parse("2024-01-01T08:00:00Z") / 1000));
    // The option value is a string inside the data string.
    expect(r.string()).toEqual(new SshWireWriter().utf8("source-address").string(new SshWireWriter().utf8("10.0.0.0/8").bytes()).bytes());
    // A flag extension has empty data.
    expect(r.string()).toEqual(new SshWireWriter().utf8("permit-pty").string(new Uint8Array(0)).bytes());
    expect(r.string()).toHaveLength(0);
    expect(r.string()).toEqual(opts.caPublicKeyBlob);
    const signedLength = r.offset;
    expect(r.string()).toEqual(ed25519SignatureBlob(ca, blob.subarray(0, signedLength)));
    r.end("the certificate");
  });

  it("sorts critical options and extensions by name, in byte order", () => {
    const { line: certLine } = encodeCertificate(
      certOptions(ca, {
        criticalOptions: { "source-address": "10.0.0.0/8", "force-command": "/usr/bin/true", "verify-required": "" },
        extensions: ["permit-user-rc", "permit-pty", "permit-X11-forwarding", "permit-agent-forwarding"],
      }),
    );
    const decoded = decodeCertificate(certLine);
    expect(Object.entries(decoded.criticalOptions)).toEqual([
      ["force-command", "/usr/bin/true"],
      ["source-address", "10.0.0.0/8"],
      ["verify-required", ""],
    ]);
    expect(Object.keys(decoded.extensions)).toEqual(["permit-X11-forwarding", "permit-agent-forwarding", "permit-pty", "permit-user-rc"]);
  });

  it("refuses duplicate extensions, empty or missing principals, and an empty validity window", () => {
    expect(() => encodeCertificate(certOptions(ca, { extensions: ["permit-pty", "permit-pty"] }))).toThrow('extensions: "permit-pty" is listed twice');
    expect(() => encodeCertificate(certOptions(ca, { principals: [] }))).toThrow("at least one principal");
    expect(() => encodeCertificate(certOptions(ca, { principals: ["alice", ""] }))).toThrow("a principal cannot be empty");
    const at = new Date("2024-01-01T00:00:00Z");
    expect(() => encodeCertificate(certOptions(ca, { validAfter: at, validBefore: at }))).toThrow("validBefore must be later than validAfter");
    expect(() => encodeCertificate(certOptions(ca, { validBefore: new Date(Number.NaN) }))).toThrow("validBefore must be a valid date");
    expect(() => encodeCertificate(certOptions(ca, { serial: 1n << 64n }))).toThrow("serial must fit in a uint64");
  });

  it("refuses a CA key pair that does not match, and a CA that is not Ed25519", () => {
    const other = generateKeyPairSync("ed25519").privateKey;
    expect(() => encodeCertificate(certOptions(ca, { caPublicKeyBlob: ed25519PublicBlob(other) }))).toThrow("not the public half of caPrivateKey");
    const ecCa = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    expect(() => encodeCertificate(certOptions(ca, { caPrivateKey: ecCa }))).toThrow("the CA key must be an Ed25519 private key");
  });

  it("refuses a public key whose stated type differs from its blob", () => {
    const publicKey: SshPublicKey = { ...userKey(), type: "ssh-rsa" };
    expect(() => encodeCertificate(certOptions(ca, { publicKey }))).toThrow("does not match its blob");
  });

  it("fails to decode once any signed byte or signature byte is flipped", () => {
    const { blob } = encodeCertificate(certOptions(ca));
    const keyIdAt = Buffer.from(blob).indexOf("alice@example.com");
    const signatureAt = blob.length - 10;
    for (const at of [keyIdAt, signatureAt]) {
      const tampered = blob.slice();
      tampered[at] ^= 1;
      expect(() => decodeCertificateBlob(tampered)).toThrow("the certificate signature does not verify");
    }
  });

  it("refuses a certificate from another CA when the trusted CA is given", () => {
    const other = generateKeyPairSync("ed25519").privateKey;
    const { line: certLine } = encodeCertificate(certOptions(other));
    expect(() => decodeCertificate(certLine, { trustedCa: ed25519PublicBlob(ca) })).toThrow(
      `the certificate is signed by ${sshFingerprint(ed25519PublicBlob(other))}, which is not the trusted CA`,
    );
  });

  it("refuses a line whose type differs from the certificate inside, and plain keys", () => {
    const { line: certLine } = encodeCertificate(certOptions(ca));
    const data = certLine.split(" ")[1];
    expect(() => decodeCertificate(`ssh-rsa-cert-v01@openssh.com ${data}`)).toThrow("the line says ssh-rsa-cert-v01@openssh.com");
    expect(() => decodeCertificate(line(publicBlob(keys.ed25519)))).toThrow('"ssh-ed25519" is not a supported certificate type');
  });

  it("refuses trailing bytes after the signature", () => {
    const { blob } = encodeCertificate(certOptions(ca));
    expect(() => decodeCertificateBlob(Uint8Array.of(...blob, 0))).toThrow("malformed certificate: 1 trailing byte(s) after the certificate");
  });

  describe("certificates built by hand", () => {
    /** Signs a certificate whose option lists and expiry are exactly as given, sorted or not. */
    function handMade(extensions: string[], validBefore: bigint): Uint8Array {
      const flags = new SshWireWriter();
      for (const name of extensions) flags.utf8(name).string(new Uint8Array(0));
      const signed = new SshWireWriter()
        .utf8("ssh-ed25519-cert-v01@openssh.com")
        .string(new Uint8Array(32))
        .string(b64u(keys.ed25519.export({ format: "jwk" }).x!))
        .uint64(1n)
        .uint32(1)
        .utf8("hand")
        .string(new SshWireWriter().utf8("alice").bytes())
        .uint64(0n)
        .uint64(validBefore)
        .string(new Uint8Array(0))
        .string(flags.bytes())
        .string(new Uint8Array(0))
        .string(ed25519PublicBlob(ca))
        .bytes();
      return new SshWireWriter().raw(signed).string(ed25519SignatureBlob(ca, signed)).bytes();
    }

    it("reads the all-ones expiry as forever", () => {
      const decoded = decodeCertificateBlob(handMade(["permit-pty"], (1n << 64n) - 1n));
      expect(decoded.validBefore).toBe("forever");
      expect(decoded.validAfter).toEqual(new Date(0));
    });

    it("refuses unsorted or repeated extensions even when the signature is good", () => {
      expect(() => decodeCertificateBlob(handMade(["permit-pty", "permit-agent-forwarding"], 1n))).toThrow("extensions are not sorted by name");
      expect(() => decodeCertificateBlob(handMade(["permit-pty", "permit-pty"], 1n))).toThrow('repeat "permit-pty"');
    });
  });
});
