import { domainToASCII } from "node:url";
import { invalidArgument } from "../errors.js";

const LOCAL = /^[^\s@\p{Cc}]+$/u;
const DOMAIN = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/;
/** Invisible and control characters: refused outright, so that look-alikes cannot hide in an address. */
const HIDDEN = /[\p{Cf}\p{Cc}]/u;

/**
 * Emails compare as one canonical form, so that look-alikes collide with the original: trimmed,
 * NFKC-normalized (fullwidth and compatibility forms fold to their plain letters), lower-cased,
 * and the domain in its ASCII (IDNA/punycode) form without a trailing dot. Format and control
 * characters are refused rather than removed.
 */
export function normalizeEmail(raw: string, field = "email"): string {
  const trimmed = raw.trim();
  if (trimmed.length === 0) throw invalidArgument(field, "is required");
  if (HIDDEN.test(trimmed)) throw invalidArgument(field, "must not contain invisible or control characters", "EMAIL_INVALID");
  const folded = trimmed.normalize("NFKC").toLowerCase();
  const at = folded.lastIndexOf("@");
  const local = folded.slice(0, at);
  const domain = at > 0 ? domainToASCII(folded.slice(at + 1).replace(/\.$/, "")) : "";
  const email = `${local}@${domain}`;
  if (!LOCAL.test(local) || !DOMAIN.test(domain) || email.length > 254) throw invalidArgument(field, "is not a valid email address", "EMAIL_INVALID");
  return email;
}

export function checkDisplayName(name: string): string {
  if ([...name].length > 200) throw invalidArgument("display_name", "must be at most 200 characters");
  // PostgreSQL text cannot hold NUL; every other character is stored as given.
  if (name.includes("\u0000")) throw invalidArgument("display_name", "must not contain NUL characters");
  return name;
}
