import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { localSession, newUser } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { bearer, createTestApp, type TestApp } from "../helpers/test-app.js";

const IDLE_SECONDS = 10 * 60;

/**
 * Attack: guessing a session bearer's secret (`wds_<id>.<secret>`, the id is not secret: it is in
 * access tokens and session lists) refreshed the session's last use, so wrong guesses kept an
 * abandoned session from idling out. Held: a wrong secret leaves no trace on the session.
 */
describe("session secret guessing", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ session_idle_timeout: `${IDLE_SECONDS}s` });
  });
  afterAll(async () => t?.close());

  const validate = (token: string) => t.client(SessionService).validateSession({}, bearer(token));
  /** ValidateSession{token}: a signed-in service asking about someone else's credential. */
  const validateByField = (token: string, asker: string) => t.client(SessionService).validateSession({ token }, bearer(asker));
  const lastSeen = async (id: string) => (await t.app.hooks.store.sessions.findById(id))!.lastSeenAt.getTime();
  /** The same session id with another well-formed secret. */
  const guessFor = (token: string, n: number) => `${token.slice(0, token.indexOf(".") + 1)}${String(n).padStart(43, "A")}`;

  it("wrong secrets do not keep a session alive: it idles out as if nobody had called", async () => {
    const u = await newUser(t, { tag: "guess" });
    const token = await localSession(t, u.email, u.password);
    const id = token.slice(4, token.indexOf("."));
    const created = await lastSeen(id);
    const asker = (await newUser(t, { tag: "guess-asker" })).accessToken;

    for (let i = 0; i < 3; i++) {
      t.clock.advance(3 * 60); // past the two-minute touch interval and the five-second session cache
      await expectError(validate(guessFor(token, i)), Code.Unauthenticated, "SESSION_NOT_FOUND");
      expect(await validateByField(guessFor(token, i + 10), asker)).toMatchObject({ valid: false });
      expect(await lastSeen(id), `guess ${i} wrote the session's last use`).toBe(created);
    }
    t.clock.advance(IDLE_SECONDS - 9 * 60 + 1);
    await expectError(validate(token), Code.Unauthenticated, "SESSION_IDLE_TIMEOUT");
  });

  it("the right secret does keep it alive (the control)", async () => {
    const u = await newUser(t, { tag: "guess-control" });
    const token = await localSession(t, u.email, u.password);
    const id = token.slice(4, token.indexOf("."));
    const created = await lastSeen(id);
    t.clock.advance(3 * 60);
    await expect(validate(token)).resolves.toMatchObject({ valid: true });
    expect(await lastSeen(id)).toBe(created + 3 * 60 * 1000);
    t.clock.advance(IDLE_SECONDS - 60);
    await expect(validate(token)).resolves.toMatchObject({ valid: true });
  });

  it("a wrong secret is refused while the session sits in the cache, without evicting it", async () => {
    const u = await newUser(t, { tag: "guess-cached" });
    const token = await localSession(t, u.email, u.password);
    await validate(token); // now cached: the secret must still be checked
    await expectError(validate(guessFor(token, 99)), Code.Unauthenticated, "SESSION_NOT_FOUND");
    await expect(validate(token)).resolves.toMatchObject({ valid: true });
  });
});
