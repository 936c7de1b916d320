import { execFileSync } from "node:child_process";
import { generateKeyPairSync, X509Certificate, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createX509Authority, openX509Authority, type X509Authority } from "../../src/crypto/x509/x509-authority.js";
import { generateP256KeyPair, issueX509Certificate, parsePublicKeyPem, type IssueX509Options } from "../../src/crypto/x509/x509-issue.js";

const HOUR = 3_600_000;
const now = Date.now();
const dir = mkdtempSync(join(tmpdir(), "warden-x509-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs openssl on PEM texts written to files; returns stdout, or throws with openssl's stderr. */
function openssl(args: string[], files: Record<string, string> = {}): string {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return execFileSync("openssl", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

async function newAuthority(commonName: string, pathLength?: number): Promise<X509Authority> {
  const { certificatePem, privateKeyPem } = await createX509Authority({
    commonName,
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + 48 * HOUR),
    pathLength,
  });
  return openX509Authority(certificatePem, privateKeyPem);
}

interface Issued {
  pem: string;
  cert: X509Certificate;
  privateKey: KeyObject;
}

async function issue(authority: X509Authority, options: Partial<IssueX509Options> = {}): Promise<Issued> {
  const keys = generateP256KeyPair();
  const pem = await issueX509Certificate({
    authority,
    subjectPublicKey: keys.publicKey,
    commonName: "agent-1",
    usage: "client",
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + HOUR),
    ...options,
  });
  return { pem, cert: new X509Certificate(pem), privateKey: keys.privateKey };
}

const keyPem = (key: KeyObject) => key.export({ format: "pem", type: "pkcs8" }).toString();

let ca: X509Authority;
let otherCa: X509Authority;
beforeAll(async () => {
  ca = await newAuthority("Warden agents, test CA");
  otherCa = await newAuthority("Someone else's CA");
});

describe("createX509Authority", () => {
  it("makes a self-signed P-256 CA with pathlen 0 and a 16-byte positive serial", () => {
    const cert = ca.certificate;
    expect(cert.ca).toBe(true);
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.subject).toBe("CN=Warden agents\\, test CA"); // node escapes the comma
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(cert.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);

    const text = openssl(["x509", "-in", "ca.pem", "-noout", "-text"], { "ca.pem": ca.certificatePem });
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).toContain("Subject Key Identifier");
    expect(text).toContain("ecdsa-with-SHA256");
  });

  it("keeps a comma or '=' in the common name as one attribute", () => {
    const text = openssl(["x509", "-in", "ca.pem", "-noout", "-subject", "-nameopt", "RFC2253"], { "ca.pem": ca.certificatePem });
    expect(text.trim()).toBe("subject=CN=Warden agents\\, test CA");
  });

  it("writes the requested pathLength and refuses a negative one", async () => {
    const root = await newAuthority("root", 2);
    expect(openssl(["x509", "-in", "root.pem", "-noout", "-text"], { "root.pem": root.certificatePem })).toContain("CA:TRUE, pathlen:2");
    await expect(createX509Authority({ commonName: "x", notBefore: new Date(now), notAfter: new Date(now + HOUR), pathLength: -1 })).rejects.toThrow(
      /pathLength/,
    );
  });
});

describe("openX509Authority", () => {
  it("refuses a private key that does not belong to the certificate", async () => {
    const { certificatePem } = await createX509Authority({ commonName: "a", notBefore: new Date(now), notAfter: new Date(now + HOUR) });
    const { privateKeyPem } = await createX509Authority({ commonName: "b", notBefore: new Date(now), notAfter: new Date(now + HOUR) });
    expect(() => openX509Authority(certificatePem, privateKeyPem)).toThrow("the private key does not belong to the certificate");
  });

  it("refuses a certificate that is not a CA", async () => {
    const leaf = await issue(ca);
    expect(() => openX509Authority(leaf.pem, keyPem(leaf.privateKey))).toThrow("not a CA certificate");
  });

  it("refuses a key that is not P-256", () => {
    const ed = generateKeyPairSync("ed25519").privateKey;
    expect(() => openX509Authority(ca.certificatePem, keyPem(ed))).toThrow("must be ECDSA P-256");
  });
});

describe("issueX509Certificate", () => {
  it("issues a client certificate that node and openssl accept", async () => {
    const leaf = await issue(ca, { dnsNames: ["agent-1.internal"], ipAddresses: ["10.1.2.3", "::1"], uris: ["spiffe://warden.test/agent/1"] });
    expect(leaf.cert.checkIssued(ca.certificate)).toBe(true);
    expect(leaf.cert.verify(ca.certificate.publicKey)).toBe(true);
    expect(leaf.cert.ca).toBe(false);
    expect(leaf.cert.issuer).toBe(ca.certificate.subject);
    expect(leaf.cert.subject).toBe("CN=agent-1");
    expect(leaf.cert.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
    expect(leaf.cert.subjectAltName).toBe("DNS:agent-1.internal, IP Address:10.1.2.3, IP Address:0:0:0:0:0:0:0:1, URI:spiffe://warden.test/agent/1");
    expect(leaf.cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]); // node calls the extended key usage keyUsage

    const files = { "ca.pem": ca.certificatePem, "leaf.pem": leaf.pem };
    const text = openssl(["x509", "-in", "leaf.pem", "-noout", "-text"], files);
    expect(text).toMatch(/Extended Key Usage: \s+TLS Web Client Authentication\n/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toContain("Authority Key Identifier");
    expect(openssl(["verify", "-CAfile", "ca.pem", "-purpose", "sslclient", "leaf.pem"], files).trim()).toBe("leaf.pem: OK");
    expect(() => openssl(["verify", "-CAfile", "ca.pem", "-purpose", "sslserver", "leaf.pem"], files)).toThrow(/unsuitable certificate purpose/);
  });

  it("fails openssl verify against another CA", async () => {
    const foreign = await issue(otherCa);
    expect(() => openssl(["verify", "-CAfile", "ca.pem", "foreign.pem"], { "ca.pem": ca.certificatePem, "foreign.pem": foreign.pem })).toThrow(
      /unable to get local issuer certificate/,
    );
  });

  it("sets both purposes for client-and-server and leaves out an empty SAN", async () => {
    const leaf = await issue(ca, { usage: "client-and-server" });
    expect(leaf.cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    expect(leaf.cert.subjectAltName).toBeUndefined();
  });

  it("refuses a notAfter past the CA's, but accepts the CA's own notAfter to the millisecond", async () => {
    const caNotAfter = new Date(ca.certificate.validTo);
    await expect(issue(ca, { notAfter: new Date(caNotAfter.getTime() + 1000) })).rejects.toThrow(/past the authority's notAfter/);
    const edge = await issue(ca, { notAfter: new Date(caNotAfter.getTime() + 999) });
    expect(edge.cert.validTo).toBe(ca.certificate.validTo);
    await expect(issue(ca, { notBefore: new Date(now), notAfter: new Date(now) })).rejects.toThrow(/later than notBefore/);
  });

  it.each([
    ["ed25519", () => generateKeyPairSync("ed25519").publicKey],
    ["rsa", () => generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey],
  ])("accepts an %s subject key and still signs with ECDSA P-256", async (type, key) => {
    const subjectPublicKey = key();
    const leaf = await issue(ca, { subjectPublicKey });
    expect(leaf.cert.publicKey.asymmetricKeyType).toBe(type);
    expect(leaf.cert.publicKey.export({ format: "jwk" })).toEqual(subjectPublicKey.export({ format: "jwk" }));
    expect(leaf.cert.verify(ca.certificate.publicKey)).toBe(true);
    const text = openssl(["x509", "-in", "leaf.pem", "-noout", "-text"], { "leaf.pem": leaf.pem });
    expect(text).toContain("Signature Algorithm: ecdsa-with-SHA256");
  });

  it("refuses a private key as the subject key and malformed SAN entries", async () => {
    await expect(issue(ca, { subjectPublicKey: generateP256KeyPair().privateKey })).rejects.toThrow("must be a public key");
    await expect(issue(ca, { ipAddresses: ["10.0.0.256"] })).rejects.toThrow(/not a supported IP address/);
    await expect(issue(ca, { dnsNames: ["two words"] })).rejects.toThrow(/not a valid DNS name/);
    await expect(issue(ca, { uris: ["no scheme"] })).rejects.toThrow(/not a valid URI/);
  });

  it("issues an intermediate CA with one less pathlen, and refuses to from a pathlen 0 CA", async () => {
    const root = await newAuthority("root", 1);
    const intermediate = await issue(root, { isCa: true, commonName: "intermediate" });
    expect(intermediate.cert.ca).toBe(true);
    const text = openssl(["x509", "-in", "i.pem", "-noout", "-text"], { "i.pem": intermediate.pem });
    expect(text).toContain("CA:TRUE, pathlen:0");
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    await expect(issue(ca, { isCa: true })).rejects.toThrow("pathLen 0");
  });
});

describe("parsePublicKeyPem", () => {
  it("reads an SPKI PEM", () => {
    const { publicKey } = generateP256KeyPair();
    const pem = publicKey.export({ format: "pem", type: "spki" }).toString();
    expect(parsePublicKeyPem(pem).export({ format: "jwk" })).toEqual(publicKey.export({ format: "jwk" }));
  });

  it.each([
    ["a private key", () => keyPem(generateP256KeyPair().privateKey)],
    ["a PKCS#1 RSA public key", () => generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "pem", type: "pkcs1" }).toString()],
    ["a certificate", () => ca.certificatePem],
    ["garbage", () => "hello"],
    ["a corrupt body", () => "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"],
  ])("refuses %s", (_, pem) => {
    expect(() => parsePublicKeyPem(pem())).toThrow(/SPKI public key/);
  });
});

describe("mTLS with node:tls", () => {
  interface Outcome {
    /** Set once the server accepts the TLS session (with rejectUnauthorized, only for a verified client). */
    serverSaw?: { authorized: boolean; authorizationError?: string; cn: string | string[] | undefined };
    clientData: string;
    clientError?: Error;
  }

  async function handshake(client: Issued, server: Issued, rejectUnauthorized = true): Promise<Outcome> {
    const outcome: Outcome = { clientData: "" };
    const tlsServer = createServer({ key: keyPem(server.privateKey), cert: server.pem, ca: [ca.certificatePem], requestCert: true, rejectUnauthorized });
    tlsServer.on("secureConnection", (socket: TLSSocket) => {
      const cn = socket.getPeerCertificate().subject?.CN;
      outcome.serverSaw = { authorized: socket.authorized, authorizationError: socket.authorizationError?.toString(), cn };
      socket.end(`hello ${String(cn)}`);
    });
    await new Promise<void>((resolve) => tlsServer.listen(0, "127.0.0.1", resolve));
    const { port } = tlsServer.address() as { port: number };
    try {
      await new Promise<void>((resolve) => {
        // No servername: the client checks the server certificate's IP SAN against 127.0.0.1.
        const socket = connect({ host: "127.0.0.1", port, ca: [ca.certificatePem], cert: client.pem, key: keyPem(client.privateKey) });
        socket.setEncoding("utf8");
        socket.on("data", (chunk: string) => (outcome.clientData += chunk));
        socket.on("error", (error) => (outcome.clientError = error));
        socket.on("close", () => resolve());
      });
    } finally {
      await new Promise((resolve) => tlsServer.close(resolve));
    }
    return outcome;
  }

  let server: Issued;
  beforeAll(async () => {
    server = await issue(ca, { commonName: "localhost", usage: "server", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
  });

  it("completes a handshake in which each side verifies the other", async () => {
    const client = await issue(ca, { commonName: "agent-7", uris: ["spiffe://warden.test/agent/7"] });
    const outcome = await handshake(client, server);
    expect(outcome.clientError).toBeUndefined();
    expect(outcome.serverSaw).toEqual({ authorized: true, authorizationError: undefined, cn: "agent-7" });
    expect(outcome.clientData).toBe("hello agent-7");
  });

  // Node's server drops an unverified client without saying why, so a lenient server reports the reason.
  it.each([
    ["a client certificate from a foreign CA", () => issue(otherCa, { commonName: "intruder" }), "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
    ["a server-only certificate used as a client certificate", () => issue(ca, { commonName: "wrong-usage", usage: "server" }), "INVALID_PURPOSE"],
  ])("rejects %s", async (_, make, code) => {
    const client = await make();
    const strict = await handshake(client, server);
    expect(strict.serverSaw).toBeUndefined();
    expect(strict.clientData).toBe("");
    const lenient = await handshake(client, server, false);
    expect(lenient.serverSaw).toMatchObject({ authorized: false, authorizationError: code });
  });
});
