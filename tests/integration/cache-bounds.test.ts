import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { randomHex, sha256Hex } from "../../src/crypto/random.js";
import { displayPrefix, newApiKey } from "../../src/domain/apikey/api-key-format.js";
import { newUser, type SignedIn } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

const LIMIT = 100;
const LOOKUPS = LIMIT * 10;

/**
 * Every per-instance cache stays within cache_max_entries however many distinct sessions,
 * tokens, keys and roles are looked up: memory does not grow with the number of live credentials.
 */
describe(`caches hold at most cache_max_entries (${LIMIT}) after ${LOOKUPS} distinct lookups each`, () => {
  let t: TestApp;
  let owner: SignedIn;
  let largest: Map<string, number>;
  const watch = () => {
    for (const c of t.app.hooks.caches.sizes()) largest.set(c.name, Math.max(largest.get(c.name) ?? 0, c.size));
  };
  beforeAll(async () => {
    t = await createTestApp({ cache_max_entries: LIMIT });
    owner = await newUser(t, { tag: "cache-owner" });
    largest = new Map();
  });
  afterAll(async () => t?.close());

  it("sessions and verified access tokens", async () => {
    const { store, sessions, tokens } = t.app.hooks;
    const now = t.clock.now();
    for (let i = 0; i < LOOKUPS; i++) {
      const id = randomHex(16);
      await store.sessions.createWithAudit(
        {
          id,
          secretHash: sha256Hex(id),
          userId: owner.userId,
          authMethod: "password",
          clientIp: "",
          userAgent: "",
          expiresAt: new Date(now.getTime() + 3_600_000),
          network: "unknown",
        },
        sha256Hex(`refresh-${id}`),
        { eventType: "auth.login", outcome: "success", actorType: "user", actorId: owner.userId },
        now,
      );
      expect((await sessions.requireLive(id)).session.id).toBe(id);
      const access = await tokens.issue({ sub: owner.userId, sid: id, tokenType: "access" });
      expect((await tokens.verify(access.token, "access")).sid).toBe(id);
      watch();
    }
    expect(largest.get("sessions")).toBe(LIMIT);
    expect(largest.get("verified_tokens")).toBe(LIMIT);
  });

  it("API keys", async () => {
    const { store, authenticator } = t.app.hooks;
    const org = await store.orgs.create({ name: "cache-org", tier: "free", createdBy: owner.userId }, t.clock.now());
    await store.orgs.addMember({ organizationId: org.id, userId: owner.userId, role: "owner" }, t.clock.now());
    for (let i = 0; i < LOOKUPS; i++) {
      const secret = newApiKey();
      const row = await store.apiKeys.create(
        {
          organizationId: org.id,
          name: `k${i}`,
          keyHash: sha256Hex(secret),
          prefix: displayPrefix(secret),
          scopes: ["read"],
          ownerUserId: owner.userId,
          ownerServiceAccountId: null,
          expiresAt: null,
        },
        t.clock.now(),
      );
      expect(await authenticator.authenticate(secret)).toMatchObject({ kind: "api_key", id: row.id });
      watch();
    }
    expect(largest.get("api_keys")).toBe(LIMIT);
    expect(largest.get("api_keys_touched")).toBe(LIMIT);
  });

  it("roles, known or not", async () => {
    const roles = t.client(RoleService);
    for (let i = 0; i < LOOKUPS; i++) {
      await expectError(roles.getRole({ name: `no-such-role-${i}` }, owner.auth), Code.NotFound, "ROLE_NOT_FOUND");
      watch();
    }
    expect(largest.get("roles")).toBe(LIMIT);
  });

  it("no cache ever held more than the limit", () => {
    for (const [name, size] of largest) expect(size, name).toBeLessThanOrEqual(LIMIT);
    expect([...largest.keys()]).toEqual(expect.arrayContaining(["sessions", "verified_tokens", "api_keys", "roles", "service_accounts", "jwks_key_sets"]));
  });
});
