import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import type { X509Authority } from "./x509-authority.js";
import { P256_SIGNING, p256SigningKey, randomSerialNumber, spkiDer, wholeSeconds, x509 } from "./x509-support.js";

/** Certificates signed by an X509Authority: mTLS client and server leaves, and intermediate CAs. */

export type X509Usage = "client" | "server" | "client-and-server";

export interface IssueX509Options {
  authority: X509Authority;
  subjectPublicKey: KeyObject;
  commonName: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  uris?: string[];
  usage: X509Usage;
  notBefore: Date;
  notAfter: Date;
  /**
   * Issue an intermediate CA instead of a leaf. Its pathLen is one less than the authority's, so the
   * authority needs pathLen >= 1. The extended key usage still applies, narrowing what it may sign for.
   */
  isCa?: boolean;
}

const EXTENDED_KEY_USAGES: Record<X509Usage, string[]> = {
  client: [x509.ExtendedKeyUsage.clientAuth],
  server: [x509.ExtendedKeyUsage.serverAuth],
  "client-and-server": [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
};

// SAN strings are IA5String (ASCII); anything else would be mis-encoded rather than refused downstream.
const IA5_TOKEN = /^[\x21-\x7e]+$/;

export async function issueX509Certificate(o: IssueX509Options): Promise<string> {
  const ca = new x509.X509Certificate(new Uint8Array(o.authority.certificate.raw));
  if (wholeSeconds(o.notAfter) > ca.notAfter.getTime()) {
    throw new Error(`X.509 issue: notAfter ${o.notAfter.toISOString()} is past the authority's notAfter ${ca.notAfter.toISOString()}`);
  }
  if (o.notAfter.getTime() <= o.notBefore.getTime()) throw new Error("X.509 issue: notAfter must be later than notBefore");
  if (o.commonName === "") throw new Error("X.509 issue: the common name cannot be empty");
  if (o.subjectPublicKey.type !== "public") throw new Error("X.509 issue: subjectPublicKey must be a public key");

  const subjectDer = spkiDer(o.subjectPublicKey);
  const extensions: x509.Extension[] = [
    o.isCa ? intermediateConstraints(ca) : new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(o.isCa ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(EXTENDED_KEY_USAGES[o.usage]),
    authorityKeyIdentifier(ca),
    await x509.SubjectKeyIdentifierExtension.create(subjectDer),
  ];
  const names = subjectAltNames(o);
  // RFC 5280 4.2.1.6: with an empty subject the SAN must be critical; ours always has a CN, so it is not.
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));

  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: [{ CN: [o.commonName] }],
    // The CA's subject exactly as encoded, so issuer/subject name matching is byte-for-byte.
    issuer: ca.subjectName,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    publicKey: subjectDer,
    signingKey: await p256SigningKey(o.authority.privateKey),
    signingAlgorithm: P256_SIGNING,
    extensions,
  });
  return certificate.toString("pem");
}

function intermediateConstraints(ca: x509.X509Certificate): x509.BasicConstraintsExtension {
  const parent = ca.getExtension(x509.BasicConstraintsExtension)?.pathLength;
  if (parent === 0) throw new Error("X.509 issue: the authority has pathLen 0, so it cannot issue an intermediate CA");
  // A parent without a limit still gets a bounded child: nothing here needs deeper chains.
  return new x509.BasicConstraintsExtension(true, parent === undefined ? 0 : parent - 1, true);
}

function authorityKeyIdentifier(ca: x509.X509Certificate): x509.AuthorityKeyIdentifierExtension {
  const keyId = ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  if (keyId === undefined) throw new Error("X.509 issue: the authority certificate has no SubjectKeyIdentifier");
  return new x509.AuthorityKeyIdentifierExtension(keyId);
}

function subjectAltNames(o: IssueX509Options): x509.JsonGeneralNames {
  const names: x509.JsonGeneralNames = [];
  for (const dns of o.dnsNames ?? []) {
    if (!IA5_TOKEN.test(dns)) throw new Error(`X.509 issue: ${JSON.stringify(dns)} is not a valid DNS name`);
    names.push({ type: "dns", value: dns });
  }
  for (const ip of o.ipAddresses ?? []) {
    // The encoder's own IPv6 parser misreads forms like ::ffff:1.2.3.4, so only plain forms pass.
    if (isIP(ip) === 0 || (ip.includes(":") && ip.includes("."))) throw new Error(`X.509 issue: ${JSON.stringify(ip)} is not a supported IP address`);
    names.push({ type: "ip", value: ip });
  }
  for (const uri of o.uris ?? []) {
    if (!IA5_TOKEN.test(uri) || !URL.canParse(uri)) throw new Error(`X.509 issue: ${JSON.stringify(uri)} is not a valid URI`);
    names.push({ type: "url", value: uri });
  }
  return names;
}

export function generateP256KeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync("ec", { namedCurve: "P-256" });
}

/** An SPKI ("BEGIN PUBLIC KEY") PEM only: private keys, certificates and other formats are refused. */
export function parsePublicKeyPem(pem: string): KeyObject {
  // createPublicKey would quietly derive a public key from a private-key PEM; the caller meant to hand over only a public key.
  if (typeof pem !== "string" || !/^\s*-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----\s*$/.test(pem)) {
    throw new Error("not an SPKI public key PEM (expected a single -----BEGIN PUBLIC KEY----- block)");
  }
  try {
    return createPublicKey({ key: pem, format: "pem", type: "spki" });
  } catch (error) {
    throw new Error(`not a readable SPKI public key: ${(error as Error).message}`, { cause: error });
  }
}
