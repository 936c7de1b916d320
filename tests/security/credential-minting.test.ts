import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { expectError } from "../helpers/expect-error.js";
import { useTenancyWorld, type Caller, type IssuedKey, type IssuedServiceAccount, type Team } from "../helpers/tenancy-world.js";

/**
 * Attack: a leaked admin-scope API key (or service-account token) mints new keys and service
 * accounts, so revoking the leaked one leaves the attacker holding credentials of their own.
 * Held: credentials are created by signed-in people only; a key may rotate itself and nothing
 * else; rotating a service account's secret ends every token issued under the old one.
 */
describe("credential minting by machine credentials", () => {
  const w = useTenancyWorld();
  let team: Team;
  let owner: Caller;
  let adminKey: IssuedKey;
  let sa: IssuedServiceAccount;
  let saToken: { token: string; as: { headers: Record<string, string> } };

  beforeAll(async () => {
    team = await w.team("minting");
    owner = team.owner;
    adminKey = await w.apiKey(owner.as, team.id, [ApiKeyScope.ADMIN]);
    sa = await w.serviceAccount(owner.as, team.id, [ApiKeyScope.ADMIN]);
    saToken = (await w.saToken(sa.sa.clientId, sa.secret)) as typeof saToken;
  });

  const keysOf = async () => (await w.keys.listApiKeys({ organizationId: team.id, pageSize: 500 }, owner.as)).apiKeys.length;
  const accountsOf = async () => (await w.sas.listServiceAccounts({ organizationId: team.id, pageSize: 500 }, owner.as)).serviceAccounts.length;

  it("refuses an admin-scope API key and a service-account token every credential they ask for (USER_SESSION_REQUIRED)", async () => {
    const [keys, accounts] = [await keysOf(), await accountsOf()];
    for (const as of [adminKey.as, saToken.as]) {
      await expectError(
        w.keys.createApiKey({ organizationId: team.id, name: "minted", scopes: [ApiKeyScope.READ] }, as),
        Code.PermissionDenied,
        "USER_SESSION_REQUIRED",
      );
      await expectError(
        w.sas.createServiceAccount({ organizationId: team.id, name: "minted", scopes: [ApiKeyScope.READ] }, as),
        Code.PermissionDenied,
        "USER_SESSION_REQUIRED",
      );
      await expectError(w.sas.rotateServiceAccountSecret({ organizationId: team.id, id: sa.sa.id }, as), Code.PermissionDenied, "USER_SESSION_REQUIRED");
    }
    expect([await keysOf(), await accountsOf()]).toEqual([keys, accounts]);
  });

  it("lets a key rotate itself only: another key is the owner's to rotate", async () => {
    const other = await w.apiKey(owner.as, team.id, [ApiKeyScope.READ]);
    await expectError(w.keys.rotateApiKey({ id: other.key.id }, adminKey.as), Code.PermissionDenied, "USER_SESSION_REQUIRED");
    const rotated = await w.keys.rotateApiKey({ id: adminKey.key.id }, adminKey.as);
    expect(rotated.secret).toMatch(/^wdn_k_/);
    expect(rotated.apiKey?.scopes).toEqual(adminKey.key.scopes);
  });

  it("ends a service account's tokens at once when its secret is rotated", async () => {
    const account = await w.serviceAccount(owner.as, team.id, [ApiKeyScope.READ]);
    const token = await w.saToken(account.sa.clientId, account.secret);
    await w.orgs.getOrganization({ id: team.id }, token.as);

    const { clientSecret } = await w.sas.rotateServiceAccountSecret({ organizationId: team.id, id: account.sa.id }, owner.as);
    await expectError(w.orgs.getOrganization({ id: team.id }, token.as), Code.Unauthenticated, "SERVICE_ACCOUNT_SECRET_ROTATED");
    await expectError(w.saToken(account.sa.clientId, account.secret), Code.Unauthenticated);

    // The new secret's tokens work, also later within the same second as the rotation.
    const fresh = await w.saToken(account.sa.clientId, clientSecret);
    await expect(w.orgs.getOrganization({ id: team.id }, fresh.as)).resolves.toBeDefined();
  });
});
