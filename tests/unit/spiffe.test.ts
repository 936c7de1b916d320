import { generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { challengeBinding, challengePayload, payloadBinds } from "../../src/domain/join/spiffe-challenge.js";
import { parseSpiffeId, parseTrustDomain } from "../../src/domain/join/spiffe-id.js";
import { certificateBlocks } from "../../src/domain/join/spiffe-pem.js";
import { SpiffeRoleMap } from "../../src/domain/join/spiffe-role-map.js";
import { svidKeyProblem, svidSignatureValid } from "../../src/domain/join/spiffe-signature.js";

describe("parseSpiffeId", () => {
  it("normalizes scheme and trust domain to lower case and keeps the path", () => {
    expect(parseSpiffeId("SPIFFE://Example.ORG/ns/Prod/sa/web-1_a.b")).toEqual({
      id: "spiffe://example.org/ns/Prod/sa/web-1_a.b",
      trustDomain: "example.org",
      path: "/ns/Prod/sa/web-1_a.b",
    });
  });

  it.each([
    ["spiffe://example.org", /no path/],
    ["spiffe://example.org/", /empty segment/],
    ["spiffe://example.org/a//b", /empty segment/],
    ["spiffe://example.org/a/", /empty segment/],
    ["spiffe://example.org/a/./b", /'\.' or '\.\.'/],
    ["spiffe://example.org/a/../b", /'\.' or '\.\.'/],
    ["spiffe://example.org/a/%2e%2e/b", /may hold only/],
    ["spiffe://example.org/a?x=1", /may hold only/],
    ["spiffe://example.org/a#f", /may hold only/],
    ["spiffe://example.org/a,b", /may hold only/],
    ["spiffe://user@example.org/a", /trust domain/],
    ["spiffe://example.org:443/a", /trust domain/],
    ["spiffe:///a", /trust domain/],
    ["spiffe:example.org/a", /scheme/],
    ["https://example.org/a", /scheme/],
    [`spiffe://example.org/${"a".repeat(2048)}`, /at most 2048/],
  ])("refuses %s", (text, message) => {
    expect(() => parseSpiffeId(text)).toThrow(message);
  });

  it("takes a bare trust domain name only", () => {
    expect(parseTrustDomain(" Example.org ")).toBe("example.org");
    expect(() => parseTrustDomain("spiffe://example.org")).toThrow(/without spiffe:\/\//);
    expect(() => parseTrustDomain("example.org:8080")).toThrow();
  });
});

describe("SpiffeRoleMap", () => {
  const map = SpiffeRoleMap.parse(
    [
      "spiffe://example.org/ns/prod/sa/admin=break-glass",
      "spiffe://example.org/ns/prod/*=prod",
      "spiffe://example.org/ns/prod/sa/late=never",
      "spiffe://example.org/ci=ci",
      "SPIFFE://EXAMPLE.ORG/ns/stag*=staging",
    ].join(" ; "),
    "example.org",
  );
  const roleOf = (id: string) => map.roleFor(parseSpiffeId(id));

  it("first match wins; * ends a prefix; other rules are exact", () => {
    expect(roleOf("spiffe://example.org/ns/prod/sa/admin")).toBe("break-glass");
    expect(roleOf("spiffe://example.org/ns/prod/sa/late")).toBe("prod");
    expect(roleOf("spiffe://example.org/ns/prod/a/b/c")).toBe("prod");
    // "ns/prod/*" covers what is below ns/prod, not ns/prod itself nor ns/production.
    expect(roleOf("spiffe://example.org/ns/prod")).toBeUndefined();
    expect(roleOf("spiffe://example.org/ns/production/x")).toBeUndefined();
    expect(roleOf("spiffe://example.org/ci")).toBe("ci");
    expect(roleOf("spiffe://example.org/ci/job")).toBeUndefined();
    // Case-insensitive in the scheme and trust domain only, on both sides.
    expect(roleOf("spiffe://Example.org/ns/staging/x")).toBe("staging");
    expect(roleOf("spiffe://example.org/NS/prod/x")).toBeUndefined();
    expect(roleOf("spiffe://other.org/ci")).toBeUndefined();
  });

  it("an empty map maps nothing", () => {
    expect(SpiffeRoleMap.parse(" ", "example.org").size).toBe(0);
  });
});

describe("SVID signatures", () => {
  const payload = Buffer.from("warden AuthenticateSPIFFE challenge v1\n", "utf8");

  it("verify Ed25519, ECDSA (DER and P1363, P-256 and P-384) and RSA PKCS#1 v1.5 with SHA-256", () => {
    const ed = generateKeyPairSync("ed25519");
    expect(svidSignatureValid(ed.publicKey, payload, sign(null, payload, ed.privateKey))).toBe(true);
    for (const namedCurve of ["P-256", "P-384"]) {
      const ec = generateKeyPairSync("ec", { namedCurve });
      for (const dsaEncoding of ["der", "ieee-p1363"] as const) {
        expect(svidSignatureValid(ec.publicKey, payload, sign("sha256", payload, { key: ec.privateKey, dsaEncoding }))).toBe(true);
      }
      // Another hash than SHA-256 does not verify.
      expect(svidSignatureValid(ec.publicKey, payload, sign("sha384", payload, ec.privateKey))).toBe(false);
    }
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    expect(svidSignatureValid(rsa.publicKey, payload, sign("sha256", payload, rsa.privateKey))).toBe(true);
  });

  it("refuse other bytes, other keys, empty and garbage signatures", () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const good = sign("sha256", payload, ec.privateKey);
    expect(svidSignatureValid(ec.publicKey, Buffer.from("other"), good)).toBe(false);
    expect(svidSignatureValid(other.publicKey, payload, good)).toBe(false);
    expect(svidSignatureValid(ec.publicKey, payload, new Uint8Array())).toBe(false);
    expect(svidSignatureValid(ec.publicKey, payload, new Uint8Array(64).fill(7))).toBe(false);
  });

  it("refuse RSA-PSS keys, short RSA keys and other key types", () => {
    const pss = generateKeyPairSync("rsa-pss", { modulusLength: 2048 });
    expect(svidKeyProblem(pss.publicKey)).toMatch(/not supported/);
    expect(svidSignatureValid(pss.publicKey, payload, sign("sha256", payload, pss.privateKey))).toBe(false);
    const short = generateKeyPairSync("rsa", { modulusLength: 1024 });
    expect(svidKeyProblem(short.publicKey)).toMatch(/at least 2048/);
    expect(svidSignatureValid(short.publicKey, payload, sign("sha256", payload, short.privateKey))).toBe(false);
    expect(svidKeyProblem(generateKeyPairSync("ed448").publicKey)).toMatch(/not supported/);
  });
});

describe("challenge payloads and PEM blocks", () => {
  it("a payload binds the cluster, the SVID and the SSH key", () => {
    const b = { clusterName: "warden", svidDigest: "ab".repeat(32), sshKeyFingerprint: "SHA256:abc" };
    const payload = challengePayload(b, "nonce", new Date("2030-01-01T00:00:00Z"));
    expect(payload.startsWith(challengeBinding(b))).toBe(true);
    expect(payloadBinds(payload, b)).toBe(true);
    expect(payloadBinds(payload, { ...b, sshKeyFingerprint: "SHA256:abd" })).toBe(false);
    expect(payloadBinds(payload, { ...b, sshKeyFingerprint: "SHA256:ab" })).toBe(false);
    expect(payloadBinds(payload, { ...b, clusterName: "other" })).toBe(false);
  });

  it("splits certificates by their markers, strictly for requests", () => {
    const block = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
    expect(certificateBlocks(`${block}\n${block}\n`, { max: 2, textBetween: false })).toEqual([`${block}\n`, `${block}\n`]);
    expect(() => certificateBlocks(`${block}\n${block}\n${block}`, { max: 2, textBetween: false })).toThrow(/more than 2/);
    expect(() => certificateBlocks(`subject=x\n${block}`, { max: 2, textBetween: false })).toThrow(/text outside/);
    expect(certificateBlocks(`subject=x\n${block}`, { max: 2, textBetween: true })).toHaveLength(1);
    expect(() => certificateBlocks(`${block}\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`, { max: 2, textBetween: true })).toThrow(
      /not a readable CERTIFICATE/,
    );
    expect(() => certificateBlocks("", { max: 2, textBetween: true })).toThrow(/no PEM CERTIFICATE/);
  });
});
