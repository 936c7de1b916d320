import { X509Certificate } from "node:crypto";
import { x509 } from "./x509-support.js";

/**
 * Chain verification for mTLS peers and SPIFFE X509-SVIDs against an explicit trust bundle.
 * Signatures and issuer matching go through node:crypto (OpenSSL); fields Node 20 only offers as
 * display text (validity dates, SANs, pathLen) are decoded from the DER instead of parsed from strings.
 */

export type X509VerifyReason = "malformed" | "expired" | "not_yet_valid" | "untrusted" | "bad_signature" | "chain_too_long";

export class X509VerifyError extends Error {
  override name = "X509VerifyError";
  constructor(
    readonly reason: X509VerifyReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface VerifyLeafOptions {
  leafPem: string;
  intermediatesPem?: string[];
  /** Trust anchors. */
  bundlePem: string[];
  at: Date;
}

/** Issuers above the leaf, trust anchor included. */
export const MAX_CHAIN_DEPTH = 5;

interface Parsed {
  node: X509Certificate;
  decoded: x509.X509Certificate;
  what: string;
}

export function verifyLeafAgainstBundle(o: VerifyLeafOptions): { leaf: X509Certificate; uriSans: string[] } {
  const leaf = parse(o.leafPem, "leaf certificate");
  const intermediates = (o.intermediatesPem ?? []).map((pem, i) => parse(pem, `intermediate certificate #${i}`));
  const anchors = o.bundlePem.map((pem, i) => parse(pem, `trust anchor #${i}`));
  if (leaf.node.ca) throw new X509VerifyError("malformed", "the leaf certificate is a CA certificate");

  const chain = [leaf];
  for (;;) {
    const current = chain[chain.length - 1];
    checkValidity(current, o.at);
    if (chain.length > 1) checkPathLength(current, chain.length - 2);

    const anchor = findIssuer(current, anchors);
    if (anchor.issuer) {
      checkValidity(anchor.issuer, o.at);
      checkPathLength(anchor.issuer, chain.length - 1);
      break;
    }
    // chain holds the leaf and the intermediates so far; one more intermediate plus an anchor must still fit.
    if (chain.length >= MAX_CHAIN_DEPTH) throw new X509VerifyError("chain_too_long", `no trust anchor within ${MAX_CHAIN_DEPTH} issuers of the leaf`);
    const intermediate = findIssuer(
      current,
      intermediates.filter((candidate) => !chain.includes(candidate)),
    );
    const next = intermediate.issuer;
    if (!next) {
      if (anchor.forged || intermediate.forged) throw new X509VerifyError("bad_signature", `the signature on the ${current.what} does not verify`);
      throw new X509VerifyError("untrusted", `no trusted issuer for the ${current.what} (${current.node.subject})`);
    }
    if (!next.node.ca) throw new X509VerifyError("untrusted", `the ${next.what} is not a CA certificate`);
    chain.push(next);
  }
  return { leaf: leaf.node, uriSans: uriSans(leaf) };
}

function parse(pem: string, what: string): Parsed {
  try {
    const node = new X509Certificate(pem);
    return { node, decoded: new x509.X509Certificate(new Uint8Array(node.raw)), what };
  } catch (error) {
    throw new X509VerifyError("malformed", `the ${what} cannot be parsed: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * checkIssued matches names, key identifiers and keyCertSign but not the signature; a name match
 * whose signature fails is remembered, since that is tampering rather than a missing issuer.
 */
function findIssuer(child: Parsed, candidates: Parsed[]): { issuer?: Parsed; forged: boolean } {
  const named = candidates.filter((candidate) => child.node.checkIssued(candidate.node));
  const issuer = named.find((candidate) => child.node.verify(candidate.node.publicKey));
  return { issuer, forged: !issuer && named.length > 0 };
}

function checkValidity(certificate: Parsed, at: Date): void {
  if (at.getTime() < certificate.decoded.notBefore.getTime()) {
    throw new X509VerifyError("not_yet_valid", `the ${certificate.what} is not valid before ${certificate.decoded.notBefore.toISOString()}`);
  }
  if (at.getTime() > certificate.decoded.notAfter.getTime()) {
    throw new X509VerifyError("expired", `the ${certificate.what} expired at ${certificate.decoded.notAfter.toISOString()}`);
  }
}

/** pathLen counts the CA certificates allowed between this one and the leaf. */
function checkPathLength(ca: Parsed, intermediatesBelow: number): void {
  const limit = ca.decoded.getExtension(x509.BasicConstraintsExtension)?.pathLength;
  if (limit !== undefined && intermediatesBelow > limit) {
    throw new X509VerifyError("untrusted", `the ${ca.what} allows ${limit} intermediate CA(s) below it, the chain has ${intermediatesBelow}`);
  }
}

function uriSans(leaf: Parsed): string[] {
  try {
    const san = leaf.decoded.getExtension(x509.SubjectAlternativeNameExtension);
    return (san?.names.items ?? []).filter((name) => name.type === "url").map((name) => name.value);
  } catch (error) {
    throw new X509VerifyError("malformed", `the leaf's subjectAltName cannot be decoded: ${(error as Error).message}`, { cause: error });
  }
}
