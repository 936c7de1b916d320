import { invalidArgument } from "../errors.js";

const EMAIL = /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+\.[^\s@\p{Cc}]+$/u;

/** Emails compare case-insensitively: stored and looked up trimmed and lower-cased. */
export function normalizeEmail(raw: string, field = "email"): string {
  const email = raw.trim().toLowerCase();
  if (email.length === 0) throw invalidArgument(field, "is required");
  if (email.length > 254 || !EMAIL.test(email)) throw invalidArgument(field, "is not a valid email address", "EMAIL_INVALID");
  return email;
}

export function checkDisplayName(name: string): string {
  if ([...name].length > 200) throw invalidArgument("display_name", "must be at most 200 characters");
  // PostgreSQL text cannot hold NUL; every other character is stored as given.
  if (name.includes("\u0000")) throw invalidArgument("display_name", "must not contain NUL characters");
  return name;
}
