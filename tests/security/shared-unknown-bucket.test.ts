import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiKeyService } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { expectRateLimited } from "../helpers/expect-error.js";
import { useServedApp } from "../helpers/served-app.js";
import { forgedApiKey } from "../helpers/tenancy-world.js";
import { bearer, STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const BUDGET = 3;

/**
 * Attack: the methods that check a credential given in the request (ValidateApiKey,
 * ValidateSession{token}) charged every failure to one shared "unknown" bucket, so one client
 * guessing keys exhausted the budget for everybody (and several clients together got far more
 * guesses than one). Held: each failure is charged to the caller's own address.
 */
describe("one shared bucket for credentials checked in the request", () => {
  const served = useServedApp({ network_max_failures: BUDGET, subnet_max_failures: 1_000_000 });
  let asker: string;

  beforeAll(async () => {
    const email = uniqueEmail("bucket-asker");
    const auth = served().from(AuthService, "192.0.2.1");
    await auth.register({ email, password: STRONG_PASSWORD });
    asker = (await auth.login({ email, password: STRONG_PASSWORD })).accessToken;
  });

  const validateKey = (address: string) => served().from(ApiKeyService, address).validateApiKey({ key: forgedApiKey() });
  const validateToken = (address: string) => served().from(SessionService, address).validateSession({ token: forgedApiKey() }, bearer(asker));

  it("ValidateApiKey: a guessing address runs out, another address is still answered", async () => {
    for (let i = 0; i < BUDGET; i++) expect((await validateKey("203.0.113.10")).valid).toBe(false);
    await expectRateLimited(validateKey("203.0.113.10"));
    expect((await validateKey("198.51.100.10")).valid).toBe(false);
  });

  it("ValidateSession{token}: the same, charged to the caller's address", async () => {
    for (let i = 0; i < BUDGET; i++) expect((await validateToken("203.0.113.20")).valid).toBe(false);
    const refused = await validateToken("203.0.113.20").catch((e: { code: Code }) => e);
    expect(refused).toMatchObject({ code: Code.ResourceExhausted });
    expect((await validateToken("198.51.100.20")).valid).toBe(false);
  });
});
