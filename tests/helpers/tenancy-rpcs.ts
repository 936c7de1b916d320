import type { CallOptions } from "@connectrpc/connect";
import { expect } from "vitest";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { MemberRole } from "../../gen/warden/org/v1/organization_pb.js";
import { denied, outcome } from "./expect-error.js";
import type { Caller, IssuedKey, IssuedServiceAccount, Team, World } from "./tenancy-world.js";

/** The ids an RPC acts on; tests swap single ids for another tenant's or for random ones. */
export interface Target {
  orgId: string;
  /** A service account of the organization. */
  saId: string;
  /** An API key of the organization, owned by its owner. */
  keyId: string;
  /** A plain member (role member) who is none of the team's callers. */
  memberId: string;
  /** A user who belongs to no organization. */
  outsiderId: string;
}

/** A team plus the resources the RPC catalog acts on. */
export interface Scene {
  team: Team;
  target: Target;
}

/**
 * Builds a scene. Users are reused across scenes of the same prefix; the organization, its
 * service account and API key are new each time.
 */
export async function buildScene(w: World, prefix: string): Promise<Scene> {
  const team = await w.team(prefix);
  const [extra, outsider] = await Promise.all([w.user(`${prefix}-extra`), w.user(`${prefix}-candidate`)]);
  await w.join(team.id, team.owner, extra, "member");
  const key = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.READ]);
  const sa = await w.serviceAccount(team.owner.as, team.id, [ApiKeyScope.READ]);
  return { team, target: { orgId: team.id, saId: sa.sa.id, keyId: key.key.id, memberId: extra.id, outsiderId: outsider.id } };
}

/**
 * How an RPC finds what it acts on: "org" RPCs name the organization in the request (the
 * policy's org_field), "key" RPCs name only an API key, "admin" RPCs are system-wide.
 */
export type RpcKind = "org" | "key" | "admin";

export interface Rpc {
  name: string;
  kind: RpcKind;
  /** Changes state when allowed, so a case expected to succeed gets a scene of its own. */
  mutates: boolean;
  /** The ErrorInfo reason of PERMISSION_DENIED when the caller may not call it. */
  deniedReason: string;
  call(w: World, x: Target, as: CallOptions): Promise<unknown>;
}

const ORG_DENIED = "ORGANIZATION_ROLE_REQUIRED";
const org = (name: string, mutates: boolean, call: Rpc["call"]): Rpc => ({ name, kind: "org", mutates, deniedReason: ORG_DENIED, call });

/** Every RPC of the four tenancy services that acts on one organization's data. */
export const TENANCY_RPCS: Rpc[] = [
  org("GetOrganization", false, (w, x, as) => w.orgs.getOrganization({ id: x.orgId }, as)),
  org("UpdateOrganization", true, (w, x, as) => w.orgs.updateOrganization({ id: x.orgId, name: w.name("renamed") }, as)),
  org("DeleteOrganization", true, (w, x, as) => w.orgs.deleteOrganization({ id: x.orgId }, as)),
  {
    name: "SuspendOrganization",
    kind: "admin",
    mutates: true,
    deniedReason: "PERMISSION_REQUIRED",
    call: (w, x, as) => w.orgs.suspendOrganization({ id: x.orgId, suspended: true }, as),
  },
  org("AddMember", true, (w, x, as) => w.members.addMember({ organizationId: x.orgId, userId: x.outsiderId, role: MemberRole.MEMBER }, as)),
  org("RemoveMember", true, (w, x, as) => w.members.removeMember({ organizationId: x.orgId, userId: x.memberId }, as)),
  org("UpdateMemberRole", true, (w, x, as) => w.members.updateMemberRole({ organizationId: x.orgId, userId: x.memberId, role: MemberRole.VIEWER }, as)),
  org("ListMembers", false, (w, x, as) => w.members.listMembers({ organizationId: x.orgId }, as)),
  org("CreateApiKey", true, (w, x, as) => w.keys.createApiKey({ organizationId: x.orgId, name: "matrix", scopes: [ApiKeyScope.READ] }, as)),
  org("ListApiKeys", false, (w, x, as) => w.keys.listApiKeys({ organizationId: x.orgId }, as)),
  { name: "RevokeApiKey", kind: "key", mutates: true, deniedReason: "API_KEY_ACCESS_DENIED", call: (w, x, as) => w.keys.revokeApiKey({ id: x.keyId }, as) },
  { name: "RotateApiKey", kind: "key", mutates: true, deniedReason: "API_KEY_ACCESS_DENIED", call: (w, x, as) => w.keys.rotateApiKey({ id: x.keyId }, as) },
  org("CreateServiceAccount", true, (w, x, as) => w.sas.createServiceAccount({ organizationId: x.orgId, name: "matrix", scopes: [ApiKeyScope.READ] }, as)),
  org("GetServiceAccount", false, (w, x, as) => w.sas.getServiceAccount({ organizationId: x.orgId, id: x.saId }, as)),
  org("UpdateServiceAccount", true, (w, x, as) => w.sas.updateServiceAccount({ organizationId: x.orgId, id: x.saId, name: "renamed" }, as)),
  org("DeleteServiceAccount", true, (w, x, as) => w.sas.deleteServiceAccount({ organizationId: x.orgId, id: x.saId }, as)),
  org("ListServiceAccounts", false, (w, x, as) => w.sas.listServiceAccounts({ organizationId: x.orgId }, as)),
  org("RotateServiceAccountSecret", true, (w, x, as) => w.sas.rotateServiceAccountSecret({ organizationId: x.orgId, id: x.saId }, as)),
];

export const ORG_SCOPED_RPCS = TENANCY_RPCS.filter((r) => r.kind === "org");
/** The RPCs that take a service account id next to the organization id. */
export const SERVICE_ACCOUNT_BY_ID_RPCS = ORG_SCOPED_RPCS.filter((r) =>
  ["GetServiceAccount", "UpdateServiceAccount", "DeleteServiceAccount", "RotateServiceAccountSecret"].includes(r.name),
);
export const KEY_BY_ID_RPCS = TENANCY_RPCS.filter((r) => r.kind === "key");

export function rpc(name: string): Rpc {
  const found = TENANCY_RPCS.find((r) => r.name === name);
  if (!found) throw new Error(`no RPC ${name} in the catalog`);
  return found;
}

/** The callers of the isolation matrix; "outsider" owns another organization. */
export type MatrixRole = "owner" | "admin" | "member" | "viewer" | "outsider" | "sysadmin";
export const MATRIX_ROLES: MatrixRole[] = ["owner", "admin", "member", "viewer", "outsider", "sysadmin"];

export function callerIn(team: Team, role: MatrixRole, outsider: Caller, sysadmin: Caller): Caller {
  return role === "outsider" ? outsider : role === "sysadmin" ? sysadmin : team[role];
}

/** Machine credentials of one organization, each already used once (so caches hold them). */
export interface Credentials {
  orgId: string;
  key: IssuedKey;
  sa: IssuedServiceAccount;
  saToken: { token: string; as: CallOptions };
  /** An API key owned by the service account. */
  saKey: IssuedKey;
}

export async function warmCredentials(w: World, owner: Caller, orgId: string): Promise<Credentials> {
  const key = await w.apiKey(owner.as, orgId, [ApiKeyScope.ADMIN]);
  const sa = await w.serviceAccount(owner.as, orgId, [ApiKeyScope.ADMIN]);
  const saKey = await w.apiKey(owner.as, orgId, [ApiKeyScope.READ], { serviceAccountId: sa.sa.id });
  const saToken = await w.saToken(sa.sa.clientId, sa.secret);
  const creds = { orgId, key, sa, saToken, saKey };
  expect(await credentialStatus(w, creds)).toEqual(CREDENTIALS_WORK);
  return creds;
}

export const CREDENTIALS_WORK = { apiKey: "OK", validateApiKey: true, serviceAccountToken: "OK", serviceAccountKey: "OK", authenticateServiceAccount: "OK" };

/** What each credential gets on an org-scoped read right now (no clock movement). */
export async function credentialStatus(w: World, c: Credentials): Promise<typeof CREDENTIALS_WORK> {
  const read = (as: CallOptions) => outcome(w.orgs.getOrganization({ id: c.orgId }, as));
  return {
    apiKey: await read(c.key.as),
    validateApiKey: (await w.keys.validateApiKey({ key: c.key.secret })).valid,
    serviceAccountToken: await read(c.saToken.as),
    serviceAccountKey: await read(c.saKey.as),
    authenticateServiceAccount: await outcome(w.sas.authenticateServiceAccount({ clientId: c.sa.sa.clientId, clientSecret: c.sa.secret })),
  };
}

/** A whitespace-aligned table: a header of column names, then one row name and one cell per column. */
export function parseTable(text: string): { row: string; column: string; cell: string }[] {
  const [header, ...rows] = text.trim().split("\n");
  const columns = header!.trim().split(/\s+/);
  return rows.flatMap((line) => {
    const [row, ...cells] = line.trim().split(/\s+/);
    if (cells.length !== columns.length) throw new Error(`table row "${row}" has ${cells.length} cells for ${columns.length} columns`);
    return cells.map((cell, i) => ({ row: row!, column: columns[i]!, cell }));
  });
}

/**
 * What a machine credential of an organization may call there, by scope (API key of the
 * owner, or service-account token): the scope must cover the RPC's declared scope, and the
 * scope's role (read viewer, write member, admin admin) must meet the RPC's org role; and
 * whatever its scope, it creates no credentials.
 */
const SCOPE_MATRIX = `
                             read    write   admin
GetOrganization              OK      OK      OK
UpdateOrganization           SCOPE   ROLE    OK
DeleteOrganization           SCOPE   SCOPE   ROLE
SuspendOrganization          SCOPE   SCOPE   ADMIN
AddMember                    SCOPE   SCOPE   OK
RemoveMember                 SCOPE   SCOPE   OK
UpdateMemberRole             SCOPE   SCOPE   OK
ListMembers                  OK      OK      OK
CreateApiKey                 SCOPE   SCOPE   PERSON
ListApiKeys                  OK      OK      OK
RevokeApiKey                 SCOPE   SCOPE   OK
RotateApiKey                 SCOPE   SCOPE   PERSON
CreateServiceAccount         SCOPE   SCOPE   PERSON
GetServiceAccount            ROLE    ROLE    OK
UpdateServiceAccount         SCOPE   SCOPE   OK
DeleteServiceAccount         SCOPE   SCOPE   OK
ListServiceAccounts          ROLE    ROLE    OK
RotateServiceAccountSecret   SCOPE   SCOPE   PERSON
`;

const SCOPE_CELL: Record<string, string> = {
  OK: "OK",
  SCOPE: denied("INSUFFICIENT_SCOPE"),
  ROLE: denied("ORGANIZATION_ROLE_REQUIRED"),
  ADMIN: denied("PERMISSION_REQUIRED"),
  // Credentials are made by people: no machine credential may create or rotate one (but its own key).
  PERSON: denied("USER_SESSION_REQUIRED"),
};
const SCOPE_OF: Record<string, ApiKeyScope> = { read: ApiKeyScope.READ, write: ApiKeyScope.WRITE, admin: ApiKeyScope.ADMIN };

export interface ScopeCase {
  rpc: string;
  scope: string;
  expected: string;
}

export const SCOPE_CASES: ScopeCase[] = parseTable(SCOPE_MATRIX).map(({ row, column, cell }) => ({ rpc: row, scope: column, expected: SCOPE_CELL[cell]! }));

/**
 * Runs one scope case: the credential is made for the scene's organization with the case's
 * scope; a call expected to change state gets a scene of its own.
 */
export async function runScopeCase(
  w: World,
  c: ScopeCase,
  shared: Scene,
  prefix: string,
  credential: (scene: Scene, scope: ApiKeyScope) => Promise<CallOptions>,
): Promise<void> {
  const r = rpc(c.rpc);
  const scene = c.expected === "OK" && r.mutates ? await buildScene(w, prefix) : shared;
  const as = await credential(scene, SCOPE_OF[c.scope]!);
  expect(await outcome(r.call(w, scene.target, as))).toBe(c.expected);
}

const BAD_CLIENT = "Unauthenticated:INVALID_CLIENT_CREDENTIALS";

/** The credential status once the organization is deleted or suspended: all refused, for this reason. */
export function credentialsRefused(reason: string): typeof CREDENTIALS_WORK {
  const refused = `Unauthenticated:${reason}`;
  return { apiKey: refused, validateApiKey: false, serviceAccountToken: refused, serviceAccountKey: refused, authenticateServiceAccount: BAD_CLIENT };
}

/** The credential status once only the service account is disabled or deleted: the owner's key still works. */
export function serviceAccountRefused(tokenReason: string, keyReason: string): typeof CREDENTIALS_WORK {
  return {
    ...CREDENTIALS_WORK,
    serviceAccountToken: `Unauthenticated:${tokenReason}`,
    serviceAccountKey: `Unauthenticated:${keyReason}`,
    authenticateServiceAccount: BAD_CLIENT,
  };
}
