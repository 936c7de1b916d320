/**
 * SPIFFE IDs as the SPIFFE-ID specification defines them: `spiffe://<trust domain>/<path>`,
 * trust domain [a-z0-9._-] (compared lower-case), path segments [A-Za-z0-9._-] that are neither
 * empty, "." nor "..". Nothing else: no port, user info, query, fragment or percent-encoding, so
 * one identity has one spelling and a role-map prefix cannot be escaped with "..".
 */

export interface SpiffeId {
  /** The normalized ID: scheme and trust domain lower-case, the path as given. */
  id: string;
  trustDomain: string;
  /** "/ns/prod/sa/web": never empty (an ID without a path names a trust domain, not a workload). */
  path: string;
}

export class SpiffeIdError extends Error {
  override name = "SpiffeIdError";
}

const SCHEME = "spiffe://";
/** The specification's limit for URI SANs. */
const MAX_LENGTH = 2048;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;

export function parseSpiffeId(text: string): SpiffeId {
  if (text.length > MAX_LENGTH) throw new SpiffeIdError(`a SPIFFE ID is at most ${MAX_LENGTH} characters`);
  if (text.slice(0, SCHEME.length).toLowerCase() !== SCHEME) throw new SpiffeIdError("the scheme must be spiffe://");
  const rest = text.slice(SCHEME.length);
  const slash = rest.indexOf("/");
  const trustDomain = (slash < 0 ? rest : rest.slice(0, slash)).toLowerCase();
  const path = slash < 0 ? "" : rest.slice(slash);
  if (!TRUST_DOMAIN.test(trustDomain)) {
    throw new SpiffeIdError("the trust domain may hold only letters, digits, '.', '-' and '_' (no port, no user info)");
  }
  if (path === "") throw new SpiffeIdError("the ID has no path: it names a trust domain, not a workload");
  for (const segment of path.slice(1).split("/")) {
    if (segment === "") throw new SpiffeIdError("the path has an empty segment");
    if (segment === "." || segment === "..") throw new SpiffeIdError("the path has a '.' or '..' segment");
    if (!SEGMENT.test(segment)) throw new SpiffeIdError("path segments may hold only letters, digits, '.', '-' and '_'");
  }
  // A second reading by the WHATWG parser must find the same parts and nothing more.
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (
    !url ||
    url.protocol !== "spiffe:" ||
    url.username !== "" ||
    url.password !== "" ||
    url.port !== "" ||
    url.search !== "" ||
    url.hash !== "" ||
    url.hostname.toLowerCase() !== trustDomain ||
    url.pathname !== path
  ) {
    throw new SpiffeIdError("the ID is not a plain spiffe://<trust domain>/<path> URI");
  }
  return { id: `${SCHEME}${trustDomain}${path}`, trustDomain, path };
}

/** A configured trust domain: the bare name ("example.org"), compared lower-case. */
export function parseTrustDomain(text: string): string {
  const name = text.trim().toLowerCase();
  if (name.startsWith(SCHEME))
    throw new SpiffeIdError(`give the bare trust domain name ("${name.slice(SCHEME.length).replace(/\/.*$/, "")}"), without spiffe://`);
  if (!TRUST_DOMAIN.test(name)) throw new SpiffeIdError("a trust domain holds only letters, digits, '.', '-' and '_'");
  return name;
}
