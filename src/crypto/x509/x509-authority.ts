import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from "node:crypto";
import { P256_SIGNING, p256SigningKey, randomSerialNumber, spkiDer, x509 } from "./x509-support.js";

/** A certificate authority for agent mTLS: a P-256 CA certificate and the key that signs with it. */

export interface X509Authority {
  certificatePem: string;
  certificate: X509Certificate;
  privateKey: KeyObject;
}

export interface CreateX509AuthorityOptions {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  /** How many intermediate CAs may sit below this one; 0 (the default) lets it sign only leaves. */
  pathLength?: number;
}

export async function createX509Authority(o: CreateX509AuthorityOptions): Promise<{ certificatePem: string; privateKeyPem: string }> {
  const pathLength = o.pathLength ?? 0;
  if (!Number.isInteger(pathLength) || pathLength < 0) throw new Error(`X.509 authority: pathLength must be a non-negative integer, got ${pathLength}`);
  if (o.commonName === "") throw new Error("X.509 authority: the common name cannot be empty");
  if (o.notAfter.getTime() <= o.notBefore.getTime()) throw new Error("X.509 authority: notAfter must be later than notBefore");

  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const publicDer = spkiDer(publicKey);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    // JSON form, not "CN=..." text, so commas or '=' in the name cannot turn into extra attributes.
    subject: [{ CN: [o.commonName] }],
    issuer: [{ CN: [o.commonName] }],
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    publicKey: publicDer,
    signingKey: await p256SigningKey(privateKey),
    signingAlgorithm: P256_SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, pathLength, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicDer),
    ],
  });
  return {
    certificatePem: certificate.toString("pem"),
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  };
}

/** Loads a stored authority, refusing a pair that could only produce certificates nobody can verify. */
export function openX509Authority(certificatePem: string, privateKeyPem: string): X509Authority {
  const certificate = new X509Certificate(certificatePem);
  const privateKey = createPrivateKey(privateKeyPem);
  if (!certificate.ca) throw new Error("X.509 authority: the certificate is not a CA certificate (BasicConstraints CA:FALSE or absent)");
  if (privateKey.asymmetricKeyType !== "ec" || privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error("X.509 authority: the private key must be ECDSA P-256");
  }
  const fromKey = Buffer.from(spkiDer(createPublicKey(privateKey)));
  const fromCertificate = Buffer.from(spkiDer(certificate.publicKey));
  if (!fromKey.equals(fromCertificate)) throw new Error("X.509 authority: the private key does not belong to the certificate");
  return { certificatePem: certificate.toString(), certificate, privateKey };
}
