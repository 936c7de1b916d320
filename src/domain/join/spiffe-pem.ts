/**
 * Certificates out of PEM text by their block markers only; what is inside a block is left to
 * the X.509 parser. Blocks of any other type (a private key pasted by mistake) are refused.
 */

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----/g;

export class PemError extends Error {
  override name = "PemError";
}

/**
 * The CERTIFICATE blocks in order. `textBetween`: whether text outside the blocks is allowed
 * (explanatory lines in a bundle file, as OpenSSL allows) or only whitespace (a request).
 */
export function certificateBlocks(text: string, o: { max: number; textBetween: boolean }): string[] {
  const blocks = text.match(CERTIFICATE_BLOCK) ?? [];
  const outside = text.replace(CERTIFICATE_BLOCK, "");
  if (outside.includes("-----BEGIN ") || outside.includes("-----END ")) throw new PemError("holds a PEM block that is not a readable CERTIFICATE");
  if (!o.textBetween && outside.trim() !== "") throw new PemError("holds text outside its CERTIFICATE blocks");
  if (blocks.length === 0) throw new PemError("holds no PEM CERTIFICATE block");
  if (blocks.length > o.max) throw new PemError(`holds more than ${o.max} certificates`);
  return blocks.map((b) => `${b}\n`);
}
