import { parseSpiffeId, SpiffeIdError, type SpiffeId } from "./spiffe-id.js";

/**
 * spiffe_role_map: "spiffe://example.org/ns/prod/*=deployer;spiffe://example.org/ci=ci". Rules
 * are tried in order and the first match wins. A pattern is an exact SPIFFE ID, or, ending in
 * "*", a prefix of one. Patterns are checked against the SPIFFE ID grammar when the server
 * starts, so a typo stops the server instead of quietly mapping nothing.
 */

interface Rule {
  /** Normalized: scheme and trust domain lower-case. */
  match: string;
  prefix: boolean;
  role: string;
}

/** The role name pattern RoleService accepts. */
const ROLE_NAME = /^[a-z][a-z0-9_.-]{0,62}$/;

export class SpiffeRoleMapError extends Error {
  override name = "SpiffeRoleMapError";
}

export class SpiffeRoleMap {
  private constructor(private readonly rules: readonly Rule[]) {}

  /** Throws SpiffeRoleMapError naming the rule at fault. */
  static parse(text: string, trustDomain: string): SpiffeRoleMap {
    const rules: Rule[] = [];
    const entries = text
      .split(";")
      .map((e) => e.trim())
      .filter(Boolean);
    entries.forEach((entry, i) => {
      const where = `rule ${i + 1} ("${entry}")`;
      const parts = entry.split("=");
      if (parts.length !== 2) throw new SpiffeRoleMapError(`${where}: expected <SPIFFE ID or prefix*>=<role>`);
      const pattern = parts[0]!.trim();
      const role = parts[1]!.trim();
      if (!ROLE_NAME.test(role)) throw new SpiffeRoleMapError(`${where}: "${role}" is not a role name`);
      const star = pattern.indexOf("*");
      if (star !== -1 && star !== pattern.length - 1) throw new SpiffeRoleMapError(`${where}: "*" may only end a pattern`);
      const prefix = star !== -1;
      if (prefix && !pattern.toLowerCase().startsWith(`spiffe://${trustDomain}/`)) {
        throw new SpiffeRoleMapError(`${where}: a prefix starts with spiffe://${trustDomain}/`);
      }
      let id: SpiffeId;
      try {
        // A prefix is valid when it begins a valid ID: completing it with one letter must give one.
        id = parseSpiffeId(prefix ? `${pattern.slice(0, -1)}x` : pattern);
      } catch (err) {
        if (err instanceof SpiffeIdError) throw new SpiffeRoleMapError(`${where}: ${err.message}`);
        throw err;
      }
      if (id.trustDomain !== trustDomain) throw new SpiffeRoleMapError(`${where}: not in the trust domain ${trustDomain}`);
      rules.push({ match: prefix ? id.id.slice(0, -1) : id.id, prefix, role });
    });
    return new SpiffeRoleMap(rules);
  }

  get size(): number {
    return this.rules.length;
  }

  /** The role of the first rule that matches, or undefined. */
  roleFor(id: SpiffeId): string | undefined {
    return this.rules.find((r) => (r.prefix ? id.id.startsWith(r.match) : id.id === r.match))?.role;
  }
}
