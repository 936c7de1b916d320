/** The session cookie's name: the __Host- prefix needs Secure, so plain HTTP (localhost) uses the bare name. */
export const SESSION_COOKIE_NAMES = { secure: "__Host-warden_session", plain: "warden_session" } as const;

const BEARER = /^wds_[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$/;

/** The session bearer a Cookie header carries, if any (either name; anything not a bearer is ignored). */
export function sessionCookieOf(header: string | undefined | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    const name = part.slice(0, eq).trim();
    if (name !== SESSION_COOKIE_NAMES.secure && name !== SESSION_COOKIE_NAMES.plain) continue;
    const value = part.slice(eq + 1).trim();
    if (BEARER.test(value)) return value;
  }
  return undefined;
}
