import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { AUDIT_EVENTS } from "../src/domain/audit/audit-events.js";
import { ERROR_REASONS } from "../src/domain/error-reasons.js";
import { BUILTIN_ROLES } from "../src/domain/rbac/builtin-roles.js";
import { PERMISSIONS } from "../src/domain/rbac/permissions.js";
import { permissionOf, policyOf } from "../src/policy.js";
import { SERVICES } from "../src/routes.js";

/**
 * The README's reference tables, made from the catalogues in the code: error reasons, audit
 * event types, permissions and built-in roles. `npm run docs` writes them into README.md
 * between their markers; tests/unit/readme.test.ts fails when the README falls behind.
 */
export const README = fileURLToPath(new URL("../README.md", import.meta.url));

const code = (s: string) => `\`${s}\``;

export function reasonsTable(): string {
  const rows = Object.entries(ERROR_REASONS).map(([reason, e]) => `| ${code(reason)} | ${e.kinds.map(code).join(", ")} | ${e.meaning} |`);
  return ["| reason | code | meaning |", "|---|---|---|", ...rows].join("\n");
}

export function auditEventsTable(): string {
  const rows = Object.entries(AUDIT_EVENTS).map(([type, meaning]) => `| ${code(type)} | ${meaning} |`);
  return ["| event type | records |", "|---|---|", ...rows].join("\n");
}

/** Which methods each permission opens, as their policies declare. */
export function permissionsTable(): string {
  const byPermission = new Map<string, string[]>();
  for (const service of SERVICES)
    for (const method of service.methods) {
      const p = policyOf(method);
      const permission = p && permissionOf(p);
      if (!permission) continue;
      const key = `${permission.resource}/${permission.verb}`;
      byPermission.set(key, [...(byPermission.get(key) ?? []), `${service.name}/${method.name}`]);
    }
  const rows = Object.entries(PERMISSIONS).flatMap(([resource, verbs]) =>
    verbs.map((verb) => {
      const key = `${resource}/${verb}`;
      const methods =
        key === "role/assign"
          ? "granting roles with `CreateUser`/`UpdateUser`, and changing users who hold roles"
          : key === "access_request/list"
            ? "seeing every access request (`AccessRequestService/GetAccessRequest`, `ListAccessRequests`), not only one's own and those one reviews"
            : key === "recording/read_reachable"
              ? "reading the recordings (`RecordingService/ListSessionRecordings`, `GetSessionRecording`) of the nodes the same role's `node_labels` reach"
              : (byPermission.get(key) ?? []).map(code).join(", ");
      return `| ${code(key)} | ${methods} |`;
    }),
  );
  return ["| permission | opens |", "|---|---|", ...rows].join("\n");
}

export function rolesTable(): string {
  const rules = (r: (typeof BUILTIN_ROLES)[number]) => r.rules.map((x) => `${x.effect} ${x.resources.join(",")}/${x.verbs.join(",")}`).join("; ");
  const rows = BUILTIN_ROLES.map((r) => `| ${code(r.name)} | ${rules(r)} | ${r.description} |`);
  return ["| role | rules | for |", "|---|---|---|", ...rows].join("\n");
}

export const TABLES: Record<string, () => string> = {
  reasons: reasonsTable,
  "audit-events": auditEventsTable,
  permissions: permissionsTable,
  roles: rolesTable,
};

/** The text between `<!-- name:start -->` and `<!-- name:end -->`. */
export function blockOf(text: string, name: string): string | undefined {
  const m = new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)<!-- ${name}:end -->`).exec(text);
  return m?.[1]?.replace(/\n$/, "");
}

export function withTables(text: string): string {
  let out = text;
  for (const [name, make] of Object.entries(TABLES)) {
    if (blockOf(out, name) === undefined) throw new Error(`README.md has no <!-- ${name}:start --> block`);
    out = out.replace(new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`), (_m, a: string, b: string) => `${a}${make()}\n${b}`);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(README, withTables(readFileSync(README, "utf8")));
  console.log("README.md tables written");
}
