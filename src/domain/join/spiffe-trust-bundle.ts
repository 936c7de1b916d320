import { X509Certificate } from "node:crypto";
import { certificateBlocks } from "./spiffe-pem.js";

/** A bundle far larger than any real one is a wrong file, not a trust bundle. */
const MAX_BUNDLE_CERTIFICATES = 1000;

/**
 * The trust anchors of spiffe_trust_bundle_file (PEM): at least one certificate, every one a CA
 * certificate that parses. Throws with the certificate at fault, so the server stops at start
 * instead of refusing every SVID later.
 */
export function parseTrustBundle(text: string): string[] {
  const blocks = certificateBlocks(text, { max: MAX_BUNDLE_CERTIFICATES, textBetween: true });
  blocks.forEach((pem, i) => {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(pem);
    } catch (err) {
      throw new Error(`certificate #${i + 1} cannot be parsed: ${(err as Error).message}`, { cause: err });
    }
    if (!certificate.ca) throw new Error(`certificate #${i + 1} (${certificate.subject.replace(/\n/g, ", ")}) is not a CA certificate`);
  });
  return blocks;
}
