import { X509Certificate, type KeyObject } from "node:crypto";
import { sha256Hex } from "../../crypto/random.js";
import { x509 } from "../../crypto/x509/x509-support.js";
import { MAX_CHAIN_DEPTH, verifyLeafAgainstBundle, X509VerifyError } from "../../crypto/x509/x509-verify.js";
import { DomainError } from "../errors.js";
import { parseSpiffeId, SpiffeIdError, type SpiffeId } from "./spiffe-id.js";
import { PemError, certificateBlocks } from "./spiffe-pem.js";
import { svidKeyProblem } from "./spiffe-signature.js";

/**
 * X.509-SVIDs (the SPIFFE X509-SVID specification): a leaf that chains to the trust bundle and
 * is valid now, carries exactly one URI SAN that is a SPIFFE ID of our trust domain, is not a
 * CA, and, when it has a key usage, may sign (digitalSignature) but not certify.
 */

export interface SpiffeTrust {
  /** Lower-case. */
  trustDomain: string;
  /** The trust anchors (PEM, one certificate each). */
  bundlePem: string[];
}

/** What a request presented, parsed but not yet trusted. */
export interface PresentedSvid {
  leafPem: string;
  intermediatesPem: string[];
  /** SHA-256 (hex) of the leaf's DER: what a challenge is bound to and the audit log names. */
  digest: string;
}

export interface VerifiedSvid {
  spiffeId: SpiffeId;
  publicKey: KeyObject;
  digest: string;
  /** The leaf's notAfter: nothing issued on its strength should outlive it. */
  notAfter: Date;
}

/** The leaf and the intermediates the chain may need. */
const MAX_SVID_CERTIFICATES = 1 + MAX_CHAIN_DEPTH;

export function svidInvalid(message: string): DomainError {
  return new DomainError("unauthenticated", "SPIFFE_SVID_INVALID", `svid: ${message}`);
}

/** Splits the request's PEM (leaf first) and parses the leaf; nothing is trusted yet. */
export function readSvid(pem: string): PresentedSvid {
  let blocks: string[];
  try {
    blocks = certificateBlocks(pem, { max: MAX_SVID_CERTIFICATES, textBetween: false });
  } catch (err) {
    if (err instanceof PemError) throw svidInvalid(err.message);
    throw err;
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(blocks[0]!);
  } catch {
    throw svidInvalid("the leaf certificate cannot be parsed");
  }
  return { leafPem: blocks[0]!, intermediatesPem: blocks.slice(1), digest: sha256Hex(leaf.raw) };
}

export function verifySvid(svid: PresentedSvid, trust: SpiffeTrust, at: Date): VerifiedSvid {
  let verified: { leaf: X509Certificate; uriSans: string[] };
  try {
    verified = verifyLeafAgainstBundle({ leafPem: svid.leafPem, intermediatesPem: svid.intermediatesPem, bundlePem: trust.bundlePem, at });
  } catch (err) {
    if (err instanceof X509VerifyError) throw svidInvalid(`${err.reason.replace(/_/g, " ")}: ${err.message}`);
    throw err;
  }
  const { leaf, uriSans } = verified;
  if (uriSans.length !== 1) throw svidInvalid(`the leaf has ${uriSans.length} URI SANs; an X.509-SVID has exactly one, its SPIFFE ID`);
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseSpiffeId(uriSans[0]!);
  } catch (err) {
    if (err instanceof SpiffeIdError) throw svidInvalid(`the URI SAN is not a SPIFFE ID: ${err.message}`);
    throw err;
  }
  if (spiffeId.trustDomain !== trust.trustDomain) throw svidInvalid(`the SPIFFE ID is of trust domain ${spiffeId.trustDomain}, not ${trust.trustDomain}`);
  const decoded = new x509.X509Certificate(new Uint8Array(leaf.raw));
  checkKeyUsage(decoded);
  const keyProblem = svidKeyProblem(leaf.publicKey);
  if (keyProblem) throw svidInvalid(keyProblem);
  return { spiffeId, publicKey: leaf.publicKey, digest: svid.digest, notAfter: decoded.notAfter };
}

function checkKeyUsage(leaf: x509.X509Certificate): void {
  let usages: number | undefined;
  try {
    usages = leaf.getExtension(x509.KeyUsagesExtension)?.usages;
  } catch {
    throw svidInvalid("the leaf's key usage cannot be decoded");
  }
  if (usages === undefined) return;
  if (!(usages & x509.KeyUsageFlags.digitalSignature)) throw svidInvalid("the leaf's key usage lacks digitalSignature");
  if (usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) throw svidInvalid("the leaf's key usage allows signing certificates");
}
