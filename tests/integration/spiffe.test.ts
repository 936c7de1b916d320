import { execFile } from "node:child_process";
import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditService, ListAuditLogsResponseSchema, Outcome } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { CertificateAuthorityService } from "../../gen/warden/ca/v1/ca_service_pb.js";
import { JoinService, type AuthenticateSPIFFEResponse } from "../../gen/warden/join/v1/join_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { createApp } from "../../src/app.js";
import { ManualClock } from "../../src/clock.js";
import { ConfigError, loadConfig } from "../../src/config.js";
import { decodeCertificate } from "../../src/crypto/ssh/ssh-certificate.js";
import { sshFingerprint } from "../../src/crypto/ssh/ssh-key-line.js";
import { ed25519PublicKeyLine, parseSshPublicKey } from "../../src/crypto/ssh/ssh-public-key.js";
import { createX509Authority, openX509Authority, type X509Authority } from "../../src/crypto/x509/x509-authority.js";
import { issueX509Certificate, type IssueX509Options } from "../../src/crypto/x509/x509-issue.js";
import { createLogger } from "../../src/logger.js";
import { spiffeSettings } from "../../src/wiring/spiffe.js";
import { openTestDatabase } from "../helpers/database.js";
import { expectFailure } from "../helpers/expect-error.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, type TestApp } from "../helpers/test-app.js";

const run = promisify(execFile);

const HOUR = 3_600_000;
const DEPLOYER = "spiffe://example.org/ns/prod/sa/deployer";
const ROLE_MAP = [
  `${DEPLOYER}=deployer`,
  "spiffe://example.org/ns/prod/*=prod",
  "spiffe://example.org/ns/idle=idle",
  "spiffe://example.org/ns/ghost=ghost",
].join(";");
const MAX_TTL_SECONDS = 1800;

type KeyKind = "p256" | "ed25519" | "rsa";

interface Svid {
  /** Leaf first, then the intermediate when it has one. */
  pem: string;
  privateKey: KeyObject;
}

function keyPair(kind: KeyKind): { privateKey: KeyObject; publicKey: KeyObject } {
  if (kind === "ed25519") return generateKeyPairSync("ed25519");
  if (kind === "rsa") return generateKeyPairSync("rsa", { modulusLength: 2048 });
  return generateKeyPairSync("ec", { namedCurve: "P-256" });
}

function signPayload(key: KeyObject, payload: string, dsaEncoding: "der" | "ieee-p1363" = "der"): Buffer {
  const data = Buffer.from(payload, "utf8");
  if (key.asymmetricKeyType === "ed25519") return sign(null, data, key);
  if (key.asymmetricKeyType === "ec") return sign("sha256", data, { key, dsaEncoding });
  return sign("sha256", data, key);
}

function sshKeyLine(): string {
  return ed25519PublicKeyLine(createPublicKey(generateKeyPairSync("ed25519").privateKey), "workload").line;
}

/** An authority and its certificate validity around `now`. */
async function newRoot(commonName: string, now: number): Promise<X509Authority> {
  const { certificatePem, privateKeyPem } = await createX509Authority({
    commonName,
    notBefore: new Date(now - 24 * HOUR),
    notAfter: new Date(now + 24 * HOUR),
    pathLength: 1,
  });
  return openX509Authority(certificatePem, privateKeyPem);
}

/**
 * JoinService/AuthenticateSPIFFE: a workload's X.509-SVID (made here with a test trust bundle:
 * a root, an intermediate, P-256, Ed25519 and RSA leaves) and a signature over the challenge buy
 * an SSH user certificate for the role its SPIFFE ID maps to; everything else is refused.
 */
describe("AuthenticateSPIFFE", () => {
  let t: TestApp;
  let spiffe: Client<typeof JoinService>;
  let admin: ReturnType<typeof bearer>;
  let root: X509Authority;
  let intermediate: X509Authority;
  let untrusted: X509Authority;
  const dir = mkdtempSync(join(tmpdir(), "warden-spiffe-"));
  const bundleFile = join(dir, "bundle.pem");

  /** A leaf (under the intermediate unless told) with the deployer's SPIFFE ID, valid an hour either side of the app's now. */
  async function svid(o: { kind?: KeyKind; authority?: X509Authority } & Partial<Omit<IssueX509Options, "authority">> = {}): Promise<Svid> {
    const { kind = "p256", authority = intermediate, ...options } = o;
    const keys = keyPair(kind);
    const now = t.clock.now().getTime();
    const leaf = await issueX509Certificate({
      authority,
      subjectPublicKey: keys.publicKey,
      commonName: "workload",
      uris: [DEPLOYER],
      usage: "client-and-server",
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + HOUR),
      ...options,
    });
    return { pem: authority === intermediate ? leaf + intermediate.certificatePem : leaf, privateKey: keys.privateKey };
  }

  async function challenge(s: Svid, sshPublicKey: string) {
    const r = await spiffe.authenticateSPIFFE({ svid: s.pem, sshPublicKey });
    expect(r.sshCertificate).toBe("");
    return r.challenge!;
  }

  /** Both calls, the second signed with the SVID's key. */
  async function authenticate(
    s: Svid,
    o: { sshPublicKey?: string; ttlSeconds?: number; dsaEncoding?: "der" | "ieee-p1363" } = {},
  ): Promise<AuthenticateSPIFFEResponse> {
    const sshPublicKey = o.sshPublicKey ?? sshKeyLine();
    const c = await challenge(s, sshPublicKey);
    return spiffe.authenticateSPIFFE({
      svid: s.pem,
      sshPublicKey,
      challengeId: c.challengeId,
      signature: signPayload(s.privateKey, c.payload, o.dsaEncoding),
      ttl: o.ttlSeconds === undefined ? undefined : { seconds: BigInt(o.ttlSeconds) },
    });
  }

  async function userCa(): Promise<Uint8Array> {
    const r = await t.client(CertificateAuthorityService).getTrustedCAs({}, admin);
    return parseSshPublicKey(r.userCaAuthorizedKeys[0]!.replace(/^cert-authority /, "")).blob;
  }

  beforeAll(async () => {
    const now = Date.now();
    root = await newRoot("SPIFFE test root", now);
    untrusted = await newRoot("SPIFFE stranger root", now);
    const keys = keyPair("p256");
    const intermediatePem = await issueX509Certificate({
      authority: root,
      subjectPublicKey: keys.publicKey,
      commonName: "SPIFFE test intermediate",
      usage: "client-and-server",
      isCa: true,
      notBefore: new Date(now - 12 * HOUR),
      notAfter: new Date(now + 12 * HOUR),
    });
    intermediate = openX509Authority(intermediatePem, keys.privateKey.export({ format: "pem", type: "pkcs8" }).toString());
    writeFileSync(bundleFile, root.certificatePem);
    t = await createTestApp({
      spiffe_trust_bundle_file: bundleFile,
      spiffe_trust_domain: "example.org",
      spiffe_role_map: ROLE_MAP,
      spiffe_cert_max_ttl: `${MAX_TTL_SECONDS}s`,
    });
    spiffe = t.client(JoinService);
    admin = bearer((await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
    const roles = t.client(RoleService);
    const rules = [{ resources: ["session"], verbs: ["get"], effect: 1 }];
    await roles.createRole(
      { role: { name: "deployer", description: "deploys", rules, logins: ["deploy", "ops"], sshPermissions: { permitPty: true } } },
      admin,
    );
    await roles.createRole({ role: { name: "prod", description: "prod workloads", rules, logins: ["app"], maxSessionTtl: { seconds: 600n } } }, admin);
    await roles.createRole({ role: { name: "idle", description: "no logins", rules } }, admin);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  it("trades a P-256 SVID (with its intermediate) and a signed challenge for an SSH certificate of the mapped role", async () => {
    const s = await svid();
    const sshPublicKey = sshKeyLine();
    const c = await challenge(s, sshPublicKey);
    expect(c.challengeId).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(timestampDate(c.expireTime!).getTime() - t.clock.now().getTime()).toBe(300_000);
    // The payload names the cluster and the SSH key, so the signature is good for this request only.
    expect(c.payload).toContain("cluster: warden\n");
    expect(c.payload).toContain(`ssh-key: ${sshFingerprint(parseSshPublicKey(sshPublicKey).blob)}\n`);

    const r = await spiffe.authenticateSPIFFE({
      svid: s.pem,
      sshPublicKey,
      challengeId: c.challengeId,
      signature: signPayload(s.privateKey, c.payload),
      ttl: { seconds: 4n * 3600n },
    });
    expect(r.challenge).toBeUndefined();
    expect(r.spiffeId).toBe(DEPLOYER);
    expect(r.role).toBe("deployer");
    const cert = decodeCertificate(r.sshCertificate, { trustedCa: await userCa() });
    expect(cert.certType).toBe("user");
    expect(cert.keyId).toBe(DEPLOYER);
    expect(cert.principals).toEqual(["deploy", "ops"]);
    expect(Object.keys(cert.extensions)).toEqual(["permit-pty"]);
    expect(cert.publicKey.blob).toEqual(parseSshPublicKey(sshPublicKey).blob);
    // Four hours asked for, spiffe_cert_max_ttl given; back-dated a minute for clock skew.
    const now = t.clock.now().getTime();
    const validBefore = (cert.validBefore as Date).getTime();
    expect(validBefore - now).toBeLessThanOrEqual(MAX_TTL_SECONDS * 1000);
    expect(validBefore - now).toBeGreaterThan(MAX_TTL_SECONDS * 1000 - 2000);
    expect(timestampDate(r.validBefore!).getTime()).toBe(validBefore);
    expect(now - cert.validAfter.getTime()).toBeGreaterThanOrEqual(59_000);
    expect(r.trustedHostCas).toEqual((await t.client(CertificateAuthorityService).getTrustedCAs({}, admin)).hostCaKnownHosts);

    const file = join(dir, "deployer-cert.pub");
    writeFileSync(file, `${r.sshCertificate}\n`);
    const listing = (await run("ssh-keygen", ["-L", "-f", file])).stdout;
    expect(listing).toContain(`Key ID: "${DEPLOYER}"`);
    expect(listing).toMatch(/Principals: \n\s+deploy\n\s+ops/);
  });

  it("accepts Ed25519 leaves straight under the root, ECDSA in IEEE P1363 encoding and RSA PKCS#1 v1.5; a prefix rule maps, and the role's TTL cap holds", async () => {
    const web = "spiffe://example.org/ns/prod/sa/web";
    const ed = await authenticate(await svid({ kind: "ed25519", authority: root, uris: [web] }));
    expect([ed.spiffeId, ed.role]).toEqual([web, "prod"]);
    const cert = decodeCertificate(ed.sshCertificate, { trustedCa: await userCa() });
    expect(cert.principals).toEqual(["app"]);
    // The prod role caps its certificates at ten minutes.
    expect((cert.validBefore as Date).getTime() - t.clock.now().getTime()).toBeLessThanOrEqual(600_000);

    expect((await authenticate(await svid(), { dsaEncoding: "ieee-p1363" })).role).toBe("deployer");
    expect((await authenticate(await svid({ kind: "rsa" }))).role).toBe("deployer");
    // A shorter ttl than the cap is kept.
    const short = await authenticate(await svid(), { ttlSeconds: 120 });
    expect(timestampDate(short.validBefore!).getTime() - t.clock.now().getTime()).toBeLessThanOrEqual(120_000);
    // Upper case in the scheme and trust domain is the same ID (compared lower-case).
    const upper = await authenticate(await svid({ uris: ["SPIFFE://EXAMPLE.ORG/ns/prod/sa/deployer"] }));
    expect([upper.spiffeId, upper.role]).toEqual([DEPLOYER, "deployer"]);
  });

  it("refuses SVIDs of another trust domain, with two URI SANs, expired, not yet valid, or from an untrusted CA", async () => {
    const now = t.clock.now().getTime();
    const cases: [string, Promise<Svid>, RegExp][] = [
      ["another trust domain", svid({ uris: ["spiffe://other.org/ns/prod/sa/deployer"] }), /trust domain other\.org/],
      ["two URI SANs", svid({ uris: [DEPLOYER, "spiffe://example.org/ns/prod/sa/second"] }), /2 URI SANs/],
      ["no URI SAN", svid({ uris: [], dnsNames: ["deployer.example.org"] }), /0 URI SANs/],
      ["expired", svid({ notBefore: new Date(now - 2 * HOUR), notAfter: new Date(now - HOUR) }), /expired/],
      ["not yet valid", svid({ notBefore: new Date(now + HOUR), notAfter: new Date(now + 2 * HOUR) }), /not yet valid/],
      ["untrusted CA", svid({ authority: untrusted }), /untrusted/],
      ["a dot-dot path", svid({ uris: ["spiffe://example.org/ns/prod/../admin"] }), /'\.' or '\.\.'/],
      ["a port", svid({ uris: ["spiffe://example.org:8443/ns/prod/sa/deployer"] }), /trust domain may hold only/],
      ["a query", svid({ uris: [`${DEPLOYER}?role=admin`] }), /path segments may hold only/],
      ["no path", svid({ uris: ["spiffe://example.org"] }), /no path/],
      ["an http URI", svid({ uris: ["https://example.org/ns/prod/sa/deployer"] }), /scheme/],
    ];
    for (const [what, made, message] of cases) {
      const s = await made;
      const f = await expectFailure(spiffe.authenticateSPIFFE({ svid: s.pem, sshPublicKey: sshKeyLine() }), Code.Unauthenticated, "SPIFFE_SVID_INVALID");
      expect(f.message, what).toMatch(message);
    }
  });

  it("refuses a CA certificate as leaf, garbage, text around the PEM, and a private key in it", async () => {
    const good = await svid();
    for (const pem of [
      intermediate.certificatePem + root.certificatePem,
      "not a certificate",
      `hello\n${good.pem}`,
      good.pem + good.privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ]) {
      await expectFailure(spiffe.authenticateSPIFFE({ svid: pem, sshPublicKey: sshKeyLine() }), Code.Unauthenticated, "SPIFFE_SVID_INVALID");
    }
    await expectFailure(spiffe.authenticateSPIFFE({ svid: good.pem, sshPublicKey: "ssh-ed25519 not-base64!" }), Code.InvalidArgument);
  });

  it("refuses a wrong signature, and the challenge is spent by it", async () => {
    const s = await svid();
    const sshPublicKey = sshKeyLine();
    const c = await challenge(s, sshPublicKey);
    const answer = (signature: Uint8Array) => spiffe.authenticateSPIFFE({ svid: s.pem, sshPublicKey, challengeId: c.challengeId, signature });
    const f = await expectFailure(answer(signPayload(keyPair("p256").privateKey, c.payload)), Code.Unauthenticated, "SPIFFE_CHALLENGE_INVALID");
    expect(f.message).toMatch(/signature does not verify/);
    // The right signature now comes too late: one challenge, one try.
    await expectFailure(answer(signPayload(s.privateKey, c.payload)), Code.Unauthenticated, "SPIFFE_CHALLENGE_INVALID");
    // A signature over other bytes than the payload is refused as well.
    const c2 = await challenge(s, sshPublicKey);
    await expectFailure(
      spiffe.authenticateSPIFFE({ svid: s.pem, sshPublicKey, challengeId: c2.challengeId, signature: signPayload(s.privateKey, c2.challengeId) }),
      Code.Unauthenticated,
      "SPIFFE_CHALLENGE_INVALID",
    );
  });

  it("refuses a challenge answered twice, an unknown one, and a second call without a signature", async () => {
    const s = await svid();
    const sshPublicKey = sshKeyLine();
    const c = await challenge(s, sshPublicKey);
    const answer = { svid: s.pem, sshPublicKey, challengeId: c.challengeId, signature: signPayload(s.privateKey, c.payload) };
    expect((await spiffe.authenticateSPIFFE(answer)).role).toBe("deployer");
    await expectFailure(spiffe.authenticateSPIFFE(answer), Code.Unauthenticated, "SPIFFE_CHALLENGE_INVALID");
    await expectFailure(spiffe.authenticateSPIFFE({ ...answer, challengeId: "x".repeat(43) }), Code.Unauthenticated, "SPIFFE_CHALLENGE_INVALID");
    await expectFailure(spiffe.authenticateSPIFFE({ ...answer, signature: new Uint8Array() }), Code.InvalidArgument);
  });

  it("refuses a challenge answered with another SVID (even of the same SPIFFE ID) or for another SSH key", async () => {
    const a = await svid();
    const b = await svid();
    const sshPublicKey = sshKeyLine();
    const c = await challenge(a, sshPublicKey);
    const f = await expectFailure(
      spiffe.authenticateSPIFFE({ svid: b.pem, sshPublicKey, challengeId: c.challengeId, signature: signPayload(b.privateKey, c.payload) }),
      Code.Unauthenticated,
      "SPIFFE_CHALLENGE_INVALID",
    );
    expect(f.message).toMatch(/another SVID/);

    const c2 = await challenge(a, sshPublicKey);
    const g = await expectFailure(
      spiffe.authenticateSPIFFE({ svid: a.pem, sshPublicKey: sshKeyLine(), challengeId: c2.challengeId, signature: signPayload(a.privateKey, c2.payload) }),
      Code.Unauthenticated,
      "SPIFFE_CHALLENGE_INVALID",
    );
    expect(g.message).toMatch(/another SSH key/);
  });

  it("refuses an unmapped SPIFFE ID, one mapped to a missing role, and a role without logins, only after the key is proven", async () => {
    const unmapped = await svid({ uris: ["spiffe://example.org/ns/dev/sa/deployer"] });
    // The first call gives a challenge: holding a copy of an SVID reveals nothing of the mapping.
    const sshPublicKey = sshKeyLine();
    const c = await challenge(unmapped, sshPublicKey);
    await expectFailure(
      spiffe.authenticateSPIFFE({
        svid: unmapped.pem,
        sshPublicKey,
        challengeId: c.challengeId,
        signature: signPayload(keyPair("p256").privateKey, c.payload),
      }),
      Code.Unauthenticated,
      "SPIFFE_CHALLENGE_INVALID",
    );
    await expectFailure(authenticate(unmapped), Code.PermissionDenied, "SPIFFE_ID_NOT_MAPPED");
    // Exact rules do not match longer paths.
    await expectFailure(authenticate(await svid({ uris: ["spiffe://example.org/ns/idle/more"] })), Code.PermissionDenied, "SPIFFE_ID_NOT_MAPPED");
    await expectFailure(authenticate(await svid({ uris: ["spiffe://example.org/ns/ghost"] })), Code.PermissionDenied, "SPIFFE_ID_NOT_MAPPED");
    await expectFailure(authenticate(await svid({ uris: ["spiffe://example.org/ns/idle"] })), Code.PermissionDenied, "SSH_LOGINS_REQUIRED");
  });

  it("audits successes and refusals without challenge ids, payloads or signatures", async () => {
    const s = await svid();
    const sshPublicKey = sshKeyLine();
    const c = await challenge(s, sshPublicKey);
    await spiffe.authenticateSPIFFE({ svid: s.pem, sshPublicKey, challengeId: c.challengeId, signature: signPayload(s.privateKey, c.payload) });
    await expectFailure(authenticate(await svid({ uris: ["spiffe://example.org/ns/idle"] })), Code.PermissionDenied, "SSH_LOGINS_REQUIRED");

    const r = await t.client(AuditService).listAuditLogs({ pageSize: 500 }, admin);
    const events = r.events.filter((e) => e.eventType === "spiffe.authenticate");
    const success = events.find(
      (e) => e.outcome === Outcome.SUCCESS && e.actorId === DEPLOYER && e.details.ssh_key === sshFingerprint(parseSshPublicKey(sshPublicKey).blob),
    );
    expect(success).toMatchObject({ actorType: "workload", targetType: "role", targetId: "deployer" });
    expect(success!.details).toMatchObject({ principals: "deploy,ops", key_type: "ssh-ed25519" });
    const reasons = new Set(events.filter((e) => e.outcome === Outcome.FAILURE).map((e) => e.details.reason));
    for (const reason of ["SPIFFE_SVID_INVALID", "SPIFFE_CHALLENGE_INVALID", "SPIFFE_ID_NOT_MAPPED", "SSH_LOGINS_REQUIRED"]) expect(reasons).toContain(reason);
    const text = JSON.stringify(toJson(ListAuditLogsResponseSchema, r));
    expect(text).not.toContain(c.challengeId);
    expect(text).not.toContain("nonce");
  });

  // These move the clock: they come last.
  it("refuses an SVID that expired between the calls and a challenge past its five minutes; never certifies past the SVID", async () => {
    const shortLived = await svid({ notAfter: new Date(t.clock.now().getTime() + 120_000) });
    const sshPublicKey = sshKeyLine();
    const c = await challenge(shortLived, sshPublicKey);
    t.clock.advance(180);
    const f = await expectFailure(
      spiffe.authenticateSPIFFE({ svid: shortLived.pem, sshPublicKey, challengeId: c.challengeId, signature: signPayload(shortLived.privateKey, c.payload) }),
      Code.Unauthenticated,
      "SPIFFE_SVID_INVALID",
    );
    expect(f.message).toMatch(/expired/);

    const s = await svid();
    const c2 = await challenge(s, sshPublicKey);
    t.clock.advance(301);
    await expectFailure(
      spiffe.authenticateSPIFFE({ svid: s.pem, sshPublicKey, challengeId: c2.challengeId, signature: signPayload(s.privateKey, c2.payload) }),
      Code.Unauthenticated,
      "SPIFFE_CHALLENGE_INVALID",
    );

    const tenMinutes = new Date(Math.floor(t.clock.now().getTime() / 1000) * 1000 + 600_000);
    const r = await authenticate(await svid({ notAfter: tenMinutes }));
    expect(timestampDate(r.validBefore!).getTime()).toBeLessThanOrEqual(tenMinutes.getTime());
  });
});

describe("AuthenticateSPIFFE refusals count against the address's join budget", () => {
  let t: TestApp;
  let root: X509Authority;
  const dir = mkdtempSync(join(tmpdir(), "warden-spiffe-budget-"));

  beforeAll(async () => {
    root = await newRoot("SPIFFE budget root", Date.now());
    writeFileSync(join(dir, "bundle.pem"), root.certificatePem);
    t = await createTestApp({
      spiffe_trust_bundle_file: join(dir, "bundle.pem"),
      spiffe_trust_domain: "example.org",
      rate_class_budgets: "join_token=3",
    });
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  async function leaf(authority: X509Authority): Promise<string> {
    return issueX509Certificate({
      authority,
      subjectPublicKey: keyPair("p256").publicKey,
      commonName: "w",
      uris: [DEPLOYER],
      usage: "client",
      notBefore: new Date(Date.now() - HOUR),
      notAfter: new Date(Date.now() + HOUR),
    });
  }

  it("a refused SVID takes a point; a challenge given does not", async () => {
    const spiffe = t.client(JoinService);
    const trusted = await leaf(root);
    for (let i = 0; i < 5; i++) expect((await spiffe.authenticateSPIFFE({ svid: trusted, sshPublicKey: sshKeyLine() })).challenge).toBeDefined();
    const strange = await leaf(await newRoot("stranger", Date.now()));
    for (let i = 0; i < 3; i++)
      await expectFailure(spiffe.authenticateSPIFFE({ svid: strange, sshPublicKey: sshKeyLine() }), Code.Unauthenticated, "SPIFFE_SVID_INVALID");
    await expectFailure(spiffe.authenticateSPIFFE({ svid: trusted, sshPublicKey: sshKeyLine() }), Code.ResourceExhausted, "RATE_LIMITED");
  });
});

describe("AuthenticateSPIFFE without the settings", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it("answers FAILED_PRECONDITION SPIFFE_NOT_CONFIGURED to both calls", async () => {
    const spiffe = t.client(JoinService);
    const root = await newRoot("any", Date.now());
    await expectFailure(spiffe.authenticateSPIFFE({ svid: root.certificatePem, sshPublicKey: sshKeyLine() }), Code.FailedPrecondition, "SPIFFE_NOT_CONFIGURED");
    await expectFailure(
      spiffe.authenticateSPIFFE({ svid: root.certificatePem, sshPublicKey: sshKeyLine(), challengeId: "x".repeat(43), signature: new Uint8Array([1]) }),
      Code.FailedPrecondition,
      "SPIFFE_NOT_CONFIGURED",
    );
  });
});

describe("AuthenticateSPIFFE settings at start", () => {
  const dir = mkdtempSync(join(tmpdir(), "warden-spiffe-start-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function configWith(overrides: Record<string, unknown>) {
    return loadConfig(
      {},
      { data_dir: dir, log_level: "silent", master_key: "test-master-key-0123456789abcdef0123456789", spiffe_trust_domain: "example.org", ...overrides },
    );
  }
  /** What spiffeSettings (the start-up read of the SPIFFE settings) throws; "" when it accepts them. */
  function settingsError(overrides: Record<string, unknown>): string {
    try {
      spiffeSettings(configWith(overrides));
      return "";
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
  }

  it("the server refuses to start with an unreadable bundle file", async () => {
    const config = configWith({ spiffe_trust_bundle_file: join(dir, "missing.pem") });
    const testDb = await openTestDatabase();
    try {
      await expect(createApp({ config, database: testDb.database, clock: new ManualClock(new Date()), log: createLogger("silent") })).rejects.toThrow(
        /^spiffe_trust_bundle_file \(WARDEN_SPIFFE_TRUST_BUNDLE_FILE\): cannot read .*missing\.pem: ENOENT/,
      );
    } finally {
      await testDb.cleanup();
    }
  }, 120_000);

  it("refuses an empty or non-CA bundle, half the settings, a bad trust domain or role map; reads a good bundle with comments", async () => {
    const root = await newRoot("start root", Date.now());
    const leaf = await issueX509Certificate({
      authority: root,
      subjectPublicKey: keyPair("p256").publicKey,
      commonName: "not a CA",
      usage: "client",
      notBefore: new Date(Date.now() - HOUR),
      notAfter: new Date(Date.now() + HOUR),
    });
    const file = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
    const good = file("good.pem", `# our SPIFFE root\n${root.certificatePem}`);
    expect(settingsError({ spiffe_trust_bundle_file: file("empty.pem", "") })).toMatch(/empty\.pem: holds no PEM CERTIFICATE block/);
    expect(settingsError({ spiffe_trust_bundle_file: file("leaf.pem", leaf) })).toMatch(/leaf\.pem: certificate #1 .* is not a CA certificate/);
    expect(
      settingsError({ spiffe_trust_bundle_file: file("key.pem", keyPair("p256").privateKey.export({ format: "pem", type: "pkcs8" }).toString()) }),
    ).toMatch(/not a readable CERTIFICATE/);
    expect(settingsError({ spiffe_trust_bundle_file: good, spiffe_trust_domain: undefined })).toMatch(/go together/);
    expect(settingsError({ spiffe_trust_bundle_file: undefined })).toMatch(/go together/);
    expect(settingsError({ spiffe_trust_bundle_file: good, spiffe_trust_domain: "spiffe://example.org" })).toMatch(/without spiffe:\/\//);
    for (const [map, message] of [
      ["spiffe://example.org/ns/*/sa=deployer", /"\*" may only end a pattern/],
      ["spiffe://other.org/ns/prod=deployer", /not in the trust domain example\.org/],
      ["spiffe://example.org*=deployer", /a prefix starts with spiffe:\/\/example\.org\//],
      ["spiffe://example.org/ns/../prod=deployer", /'\.' or '\.\.'/],
      ["spiffe://example.org/ns/prod", /expected <SPIFFE ID or prefix\*>=<role>/],
      ["spiffe://example.org/ns/prod=Bad Role", /is not a role name/],
    ] as const) {
      expect(settingsError({ spiffe_trust_bundle_file: good, spiffe_role_map: map }), map).toMatch(/^spiffe_role_map \(WARDEN_SPIFFE_ROLE_MAP\): rule 1/);
      expect(settingsError({ spiffe_trust_bundle_file: good, spiffe_role_map: map }), map).toMatch(message);
    }
    const settings = spiffeSettings(
      configWith({ spiffe_trust_bundle_file: good, spiffe_trust_domain: "Example.ORG", spiffe_role_map: `${DEPLOYER}=deployer;;` }),
    )!;
    expect(settings.trust).toEqual({ trustDomain: "example.org", bundlePem: [root.certificatePem.trim() + "\n"] });
    expect(settings.roleMap.size).toBe(1);
    expect(settings.maxTtlSeconds).toBe(3600);
    expect(spiffeSettings(configWith({ spiffe_trust_domain: undefined }))).toBeUndefined();
  });
});
