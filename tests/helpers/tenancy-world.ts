import { randomUUID } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import type { CallOptions, Client } from "@connectrpc/connect";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll } from "vitest";
import { ApiKeyScope, ApiKeyService, type ApiKey } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { AuditService } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { MembershipService } from "../../gen/warden/org/v1/membership_service_pb.js";
import { MemberRole, OrganizationTier, type Organization } from "../../gen/warden/org/v1/organization_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { ServiceAccountService, type ServiceAccount } from "../../gen/warden/serviceaccount/v1/service_account_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "./test-app.js";

/**
 * Settings of the tenancy suites: access tokens live two days of ManualClock time, so tests that
 * move the clock past API-key, session-token or service-account lifetimes keep their users.
 */
export const TENANCY_SETTINGS = { access_token_ttl: "2d" } as const;

/**
 * The World of one describe block: its app starts before the block's tests (this hook is
 * registered first, so it runs before the block's own beforeAll) and closes after them.
 */
export function useTenancyWorld(overrides: Record<string, unknown> = {}): World {
  let t: TestApp | undefined;
  beforeAll(async () => {
    t = await createTestApp({ ...TENANCY_SETTINGS, ...overrides });
  });
  afterAll(async () => t?.close());
  return new World(() => {
    if (!t) throw new Error("the tenancy app starts in beforeAll");
    return t;
  });
}

/** A signed-in user: id, email and the call options that carry its access token. */
export interface Caller {
  id: string;
  email: string;
  token: string;
  as: CallOptions;
}

export type OrgRoleName = "owner" | "admin" | "member" | "viewer";

export const MEMBER_ROLE: Record<OrgRoleName, MemberRole> = {
  owner: MemberRole.OWNER,
  admin: MemberRole.ADMIN,
  member: MemberRole.MEMBER,
  viewer: MemberRole.VIEWER,
};

/** An organization with one user in each role. */
export interface Team extends Record<OrgRoleName, Caller> {
  org: Organization;
  id: string;
}

export interface IssuedKey {
  key: ApiKey;
  secret: string;
  /** Call options that present the key as `authorization: Bearer wdn_k_...`. */
  as: CallOptions;
}

export interface IssuedServiceAccount {
  sa: ServiceAccount;
  secret: string;
}

/** A syntactically valid id that names nothing. */
export const unknownId = (): string => randomUUID();

/** A well-formed API key nobody issued. */
export const forgedApiKey = (): string => `wdn_k_${randomUUID().replace(/-/g, "")}${randomUUID().replace(/-/g, "")}`;

/** Every column value of the rows as text, to search for secrets that must not be stored. */
export function cellsOf(rows: Record<string, unknown>[]): string[] {
  return rows.flatMap((row) => Object.values(row).map((v) => (v instanceof Date ? v.toISOString() : typeof v === "string" ? v : (JSON.stringify(v) ?? ""))));
}

/**
 * Users, organizations and credentials of one test app, created through the public RPCs.
 * Users are registered once per name and reused (argon2 makes each one cost a hash and a verify).
 */
export class World {
  private readonly clients = new Map<DescService, unknown>();
  private readonly callers = new Map<string, Promise<Caller>>();
  private serial = 0;

  constructor(private readonly source: TestApp | (() => TestApp)) {}

  get t(): TestApp {
    return typeof this.source === "function" ? this.source() : this.source;
  }

  private client<S extends DescService>(service: S): Client<S> {
    if (!this.clients.has(service)) this.clients.set(service, this.t.client(service));
    return this.clients.get(service) as Client<S>;
  }

  get auth() {
    return this.client(AuthService);
  }
  get orgs() {
    return this.client(OrganizationService);
  }
  get members() {
    return this.client(MembershipService);
  }
  get keys() {
    return this.client(ApiKeyService);
  }
  get sas() {
    return this.client(ServiceAccountService);
  }
  get roles() {
    return this.client(RoleService);
  }
  get users() {
    return this.client(UserService);
  }
  get audit() {
    return this.client(AuditService);
  }

  /** A registered, signed-in user named `<name>@tenancy.test`. */
  user(name: string): Promise<Caller> {
    let caller = this.callers.get(name);
    if (!caller) {
      const email = `${name}@tenancy.test`;
      caller = this.auth.register({ email, password: STRONG_PASSWORD, displayName: name }).then(() => this.login(email, STRONG_PASSWORD));
      this.callers.set(name, caller);
    }
    return caller;
  }

  /** The bootstrap system administrator. */
  admin(): Promise<Caller> {
    let caller = this.callers.get("\0admin");
    if (!caller) {
      caller = this.login(ADMIN_EMAIL, ADMIN_PASSWORD);
      this.callers.set("\0admin", caller);
    }
    return caller;
  }

  async login(email: string, password: string): Promise<Caller> {
    const r = await this.auth.login({ email, password });
    return { id: r.user!.id, email: r.user!.email, token: r.accessToken, as: bearer(r.accessToken) };
  }

  /** A unique name for this app, e.g. for organizations. */
  name(prefix: string): string {
    return `${prefix}-${++this.serial}`;
  }

  async org(owner: Caller, name = this.name("org"), tier = OrganizationTier.UNSPECIFIED): Promise<Organization> {
    return (await this.orgs.createOrganization({ name, tier }, owner.as)).organization!;
  }

  async join(orgId: string, by: Caller, user: Caller, role: OrgRoleName): Promise<void> {
    await this.members.addMember({ organizationId: orgId, userId: user.id, role: MEMBER_ROLE[role] }, by.as);
  }

  /** A new organization owned by `<prefix>-owner`, with `<prefix>-admin`, `-member` and `-viewer` in it. */
  async team(prefix: string): Promise<Team> {
    const [owner, admin, member, viewer] = await Promise.all((["owner", "admin", "member", "viewer"] as const).map((r) => this.user(`${prefix}-${r}`)));
    const org = await this.org(owner!, this.name(prefix));
    for (const [user, role] of [
      [admin!, "admin"],
      [member!, "member"],
      [viewer!, "viewer"],
    ] as const)
      await this.join(org.id, owner!, user, role);
    return { org, id: org.id, owner: owner!, admin: admin!, member: member!, viewer: viewer! };
  }

  async apiKey(
    by: CallOptions,
    organizationId: string,
    scopes: ApiKeyScope[] = [ApiKeyScope.ADMIN],
    extra: { expiresAt?: Timestamp; serviceAccountId?: string } = {},
  ): Promise<IssuedKey> {
    const r = await this.keys.createApiKey({ organizationId, name: this.name("key"), scopes, ...extra }, by);
    return { key: r.apiKey!, secret: r.secret, as: bearer(r.secret) };
  }

  async serviceAccount(by: CallOptions, organizationId: string, scopes: ApiKeyScope[] = [ApiKeyScope.ADMIN]): Promise<IssuedServiceAccount> {
    const r = await this.sas.createServiceAccount({ organizationId, name: this.name("sa"), scopes }, by);
    return { sa: r.serviceAccount!, secret: r.clientSecret };
  }

  /** AuthenticateServiceAccount, returning call options that carry the token. */
  async saToken(clientId: string, clientSecret: string): Promise<{ token: string; expiresAt: Date; as: CallOptions }> {
    const r = await this.sas.authenticateServiceAccount({ clientId, clientSecret });
    return { token: r.accessToken, expiresAt: new Date(Number(r.expiresAt!.seconds) * 1000), as: bearer(r.accessToken) };
  }

  async memberRoles(orgId: string, as: CallOptions): Promise<Map<string, MemberRole>> {
    const r = await this.members.listMembers({ organizationId: orgId, pageSize: 500 }, as);
    return new Map(r.members.map((m) => [m.userId, m.role]));
  }
}
