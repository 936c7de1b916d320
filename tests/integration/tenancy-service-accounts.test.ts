import { createHash } from "node:crypto";
import { toJsonString } from "@bufbuild/protobuf";
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { ListServiceAccountsResponseSchema } from "../../gen/warden/serviceaccount/v1/service_account_service_pb.js";
import {
  buildScene,
  credentialStatus,
  CREDENTIALS_WORK,
  runScopeCase,
  SCOPE_CASES,
  SERVICE_ACCOUNT_BY_ID_RPCS,
  serviceAccountRefused,
  warmCredentials,
  type Scene,
} from "../helpers/tenancy-rpcs.js";
import { queryRows } from "../helpers/database.js";
import { denied, errorOf, outcome, outcomeOf } from "../helpers/expect-error.js";
import { jwtClaims } from "../helpers/jwt.js";
import { collectPages } from "../helpers/pages.js";
import { cellsOf, useTenancyWorld, type Caller, type Team } from "../helpers/tenancy-world.js";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

describe("service accounts", () => {
  const w = useTenancyWorld({ max_organizations_per_user: 1000 });
  let sysadmin: Caller;
  let team: Team;
  let shared: Scene;
  beforeAll(async () => {
    [sysadmin, team, shared] = await Promise.all([w.admin(), w.team("sa"), buildScene(w, "sascope")]);
  });

  const authenticate = (clientId: string, clientSecret: string) => outcome(w.sas.authenticateServiceAccount({ clientId, clientSecret }));

  it("CreateServiceAccount: client_id sa_ + 16 characters, the secret shown once and stored hashed", async () => {
    const created = await w.sas.createServiceAccount({ organizationId: team.id, name: "deployer", scopes: [ApiKeyScope.WRITE] }, team.admin.as);
    const { serviceAccount: sa, clientSecret } = created;
    expect(sa?.clientId).toMatch(/^sa_[A-Za-z0-9]{16}$/);
    expect([sa?.name, sa?.organizationId, sa?.scopes, sa?.disabled]).toEqual(["deployer", team.id, [ApiKeyScope.WRITE], false]);
    expect(clientSecret.length).toBeGreaterThanOrEqual(32);

    const got = await w.sas.getServiceAccount({ organizationId: team.id, id: sa!.id }, team.owner.as);
    const listed = await w.sas.listServiceAccounts({ organizationId: team.id, pageSize: 500 }, team.owner.as);
    expect(got.serviceAccount?.clientId).toBe(sa?.clientId);
    expect(toJsonString(ListServiceAccountsResponseSchema, listed)).not.toContain(clientSecret);

    const rows = await queryRows(w.t.app.hooks.db, sql`select * from service_accounts`);
    expect(rows.find((r) => r.id === sa!.id)?.secret_hash).toBe(sha256(clientSecret));
    for (const cell of cellsOf(rows)) expect(cell).not.toContain(clientSecret);
  });

  it("AuthenticateServiceAccount returns a one-hour service_account token", async () => {
    const { sa, secret } = await w.serviceAccount(team.owner.as, team.id, [ApiKeyScope.READ]);
    const issued = await w.saToken(sa.clientId, secret);
    const claims = jwtClaims(issued.token);
    expect([claims.token_type, claims.sub, (claims.exp as number) - (claims.iat as number)]).toEqual(["service_account", sa.id, 3600]);
    expect(Math.abs(issued.expiresAt.getTime() - (w.t.clock.now().getTime() + 3600_000))).toBeLessThanOrEqual(1000);
    expect(await outcome(w.orgs.getOrganization({ id: team.id }, issued.as))).toBe("OK");
    // Machine identities create no organizations and are no system admins.
    expect(await outcome(w.orgs.createOrganization({ name: "by sa" }, issued.as))).toBe(denied("INSUFFICIENT_SCOPE"));
    expect(await outcome(w.users.listUsers({}, issued.as))).toBe(denied("PERMISSION_REQUIRED"));
    // Past the hour and the verifier's few seconds of clock tolerance.
    w.t.clock.advance(3600 + 10);
    expect(await outcome(w.orgs.getOrganization({ id: team.id }, issued.as))).toBe("Unauthenticated:TOKEN_EXPIRED");
  });

  it("a wrong secret, an unknown client id and malformed input get the same UNAUTHENTICATED", async () => {
    const { sa, secret } = await w.serviceAccount(team.owner.as, team.id);
    const other = await w.serviceAccount(team.owner.as, team.id);
    const errors = await Promise.all(
      [
        [sa.clientId, other.secret],
        [sa.clientId, secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A")],
        ["sa_0000000000000000", secret],
        ["", ""],
        [sa.clientId, ""],
      ].map(([clientId, clientSecret]) => errorOf(w.sas.authenticateServiceAccount({ clientId: clientId!, clientSecret: clientSecret! }))),
    );
    // Code, reason and message alike: nothing tells which part was wrong.
    expect(new Set(errors.map((e) => `${outcomeOf(e)} ${e?.rawMessage}`))).toEqual(
      new Set([`Unauthenticated:INVALID_CLIENT_CREDENTIALS ${errors[0]?.rawMessage}`]),
    );
  });

  describe("tokens by scope", () => {
    it.for(SCOPE_CASES)("a $scope service account: $rpc -> $expected", async (c) => {
      await runScopeCase(w, c, shared, "sascope", async (scene, scope) => {
        const { sa, secret } = await w.serviceAccount(scene.team.owner.as, scene.team.id, [scope]);
        return (await w.saToken(sa.clientId, secret)).as;
      });
    });

    it("a scope change applies to existing tokens on their next call", async () => {
      const { sa, secret } = await w.serviceAccount(team.owner.as, team.id, [ApiKeyScope.ADMIN]);
      const token = await w.saToken(sa.clientId, secret);
      const rename = () => outcome(w.orgs.updateOrganization({ id: team.id, name: w.name("sa") }, token.as));
      expect(await rename()).toBe("OK");
      await w.sas.updateServiceAccount({ organizationId: team.id, id: sa.id, scopes: [ApiKeyScope.READ], updateScopes: true }, team.admin.as);
      expect(await rename()).toBe(denied("INSUFFICIENT_SCOPE"));
    });
  });

  describe("lifecycle", () => {
    it("RotateServiceAccountSecret: the old secret is refused, the new one works", async () => {
      const { sa, secret } = await w.serviceAccount(team.owner.as, team.id);
      const rotated = await w.sas.rotateServiceAccountSecret({ organizationId: team.id, id: sa.id }, team.admin.as);
      expect(rotated.clientSecret).not.toBe(secret);
      expect(rotated.serviceAccount?.clientId).toBe(sa.clientId);
      expect([await authenticate(sa.clientId, secret), await authenticate(sa.clientId, rotated.clientSecret)]).toEqual([
        "Unauthenticated:INVALID_CLIENT_CREDENTIALS",
        "OK",
      ]);
    });

    it("disabling refuses its tokens and its API keys at once; enabling restores them", async () => {
      const creds = await warmCredentials(w, team.owner, team.id);
      const disabled = await w.sas.updateServiceAccount({ organizationId: team.id, id: creds.sa.sa.id, disabled: true }, team.admin.as);
      expect(disabled.serviceAccount?.disabled).toBe(true);
      expect(await credentialStatus(w, creds)).toEqual(serviceAccountRefused("SERVICE_ACCOUNT_DISABLED", "OWNER_DISABLED"));
      await w.sas.updateServiceAccount({ organizationId: team.id, id: creds.sa.sa.id, disabled: false }, team.admin.as);
      expect(await credentialStatus(w, creds)).toEqual(CREDENTIALS_WORK);
    });

    it("DeleteServiceAccount refuses its tokens at once, revokes its API keys, and it is gone", async () => {
      const creds = await warmCredentials(w, team.owner, team.id);
      await w.sas.deleteServiceAccount({ organizationId: team.id, id: creds.sa.sa.id }, team.owner.as);
      expect(await credentialStatus(w, creds)).toEqual(serviceAccountRefused("SERVICE_ACCOUNT_DELETED", "API_KEY_REVOKED"));
      const keys = (await w.keys.listApiKeys({ organizationId: team.id, pageSize: 500 }, team.owner.as)).apiKeys;
      expect(keys.find((k) => k.id === creds.saKey.key.id)?.revokeTime).toBeDefined();
      const byId = SERVICE_ACCOUNT_BY_ID_RPCS.map((r) => r.call(w, { ...shared.target, orgId: team.id, saId: creds.sa.sa.id }, team.owner.as));
      expect(await Promise.all(byId.map(outcome))).toEqual(byId.map(() => "NotFound:SERVICE_ACCOUNT_NOT_FOUND"));
      const listed = await w.sas.listServiceAccounts({ organizationId: team.id, pageSize: 500 }, team.owner.as);
      expect(listed.serviceAccounts.map((s) => s.id)).not.toContain(creds.sa.sa.id);
    });

    it("Update validates; Get and List page through the organization's accounts", async () => {
      const { sa } = await w.serviceAccount(team.owner.as, team.id, [ApiKeyScope.READ]);
      const renamed = await w.sas.updateServiceAccount({ organizationId: team.id, id: sa.id, name: "  renamed  " }, team.owner.as);
      expect([renamed.serviceAccount?.name, renamed.serviceAccount?.scopes]).toEqual(["renamed", [ApiKeyScope.READ]]);
      const bad = "InvalidArgument:INVALID_ARGUMENT";
      expect(await outcome(w.sas.updateServiceAccount({ organizationId: team.id, id: sa.id, name: "" }, team.owner.as))).toBe(bad);
      expect(await outcome(w.sas.updateServiceAccount({ organizationId: team.id, id: sa.id, scopes: [], updateScopes: true }, team.owner.as))).toBe(bad);
      expect(await outcome(w.sas.createServiceAccount({ organizationId: team.id, name: "no scopes", scopes: [] }, team.owner.as))).toBe(bad);
      expect((await w.sas.getServiceAccount({ organizationId: team.id, id: sa.id }, sysadmin.as)).serviceAccount?.name).toBe("renamed");

      const org = await w.org(team.owner);
      const made = [];
      for (let i = 0; i < 5; i++) made.push((await w.serviceAccount(team.owner.as, org.id)).sa.id);
      const { ids, pages } = await collectPages(
        async (pageToken) => {
          const r = await w.sas.listServiceAccounts({ organizationId: org.id, pageSize: 2, pageToken }, team.owner.as);
          return { items: r.serviceAccounts, nextPageToken: r.nextPageToken };
        },
        (s) => s.id,
        2,
      );
      expect(pages).toBe(3);
      expect(ids.sort()).toEqual(made.sort());
    });
  });
});
