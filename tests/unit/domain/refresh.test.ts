import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../src/crypto/random.js";
import { meta, signInTokens, signUp } from "./fakes/actors.js";
import { expectDomainError } from "./fakes/domain-error.js";
import { cached, createWorld, secondInstance, type World } from "./fakes/world.js";

/** A world with one signed-in user. */
async function signedIn(settings: Parameters<typeof createWorld>[0] = {}) {
  const w = await createWorld(settings);
  const { user, email } = await signUp(w, "refresh");
  const tokens = await signInTokens(w, email);
  return { w, user, tokens, sessionId: tokens.session.id };
}

const refresh = (w: World, token: string) => w.auth.refresh(token, meta);
/** Someone else presenting a token: another address and user agent. */
const thief = { ...meta, clientIp: "198.51.100.66", userAgent: "curl/8" };
const stolen = (w: World, token: string) => w.auth.refresh(token, thief);

describe("refresh token rotation", () => {
  it("rotates: each refresh returns a new token of the next generation and spends the one presented", async () => {
    const { w, user, tokens, sessionId } = await signedIn();
    const second = await refresh(w, tokens.refreshToken);
    const third = await refresh(w, second.refreshToken);

    expect(new Set([tokens.refreshToken, second.refreshToken, third.refreshToken]).size).toBe(3);
    expect(w.store.tables.refreshTokens.get(sha256Hex(tokens.refreshToken))?.usedAt).toEqual(w.clock.now());
    expect(w.store.tables.refreshTokens.get(sha256Hex(third.refreshToken))).toMatchObject({ sessionId, generation: 3, usedAt: null });
    expect(w.store.audited("auth.refresh").map((e) => e.details.generation)).toEqual(["2", "3"]);
    expect(await w.tokens.verify(third.accessToken, "access")).toMatchObject({ sub: user.id, sid: sessionId });
  });

  it("refuses an unknown token without touching any session (REFRESH_TOKEN_INVALID)", async () => {
    const { w, sessionId } = await signedIn();
    await expectDomainError(refresh(w, "A".repeat(43)), "unauthenticated", "REFRESH_TOKEN_INVALID");
    expect(w.store.tables.sessions.get(sessionId)?.revokedAt).toBeNull();
  });

  it("treats a used token as stolen: REFRESH_TOKEN_REUSED, the whole session revoked and audited, its cached copy refused at once", async () => {
    const { w, user, tokens, sessionId } = await signedIn();
    const rotated = await refresh(w, tokens.refreshToken);
    await w.sessions.requireLive(sessionId);
    expect(cached(w, "sessions")).toBe(1);

    await expectDomainError(stolen(w, tokens.refreshToken), "unauthenticated", "REFRESH_TOKEN_REUSED");

    expect(w.store.tables.sessions.get(sessionId)).toMatchObject({ revokedAt: w.clock.now(), revokeReason: "refresh_token_reuse" });
    expect(w.store.audited("auth.refresh_reuse")).toEqual([
      expect.objectContaining({ outcome: "failure", actorId: user.id, targetType: "session", targetId: sessionId, details: { action: "session_revoked" } }),
    ]);
    // The cached copy was dropped by the bus: no waiting for the cache to age.
    await expectDomainError(w.sessions.requireLive(sessionId), "unauthenticated", "SESSION_REVOKED");
    // The thief's fresh token dies with the session.
    await expectDomainError(refresh(w, rotated.refreshToken), "unauthenticated", "SESSION_REVOKED");
  });

  it("refuses the revoked session at once on another instance that had it cached", async () => {
    const { w, tokens, sessionId } = await signedIn();
    const other = await secondInstance(w);
    await other.sessions.requireLive(sessionId);
    expect(cached(other, "sessions")).toBe(1);

    await refresh(w, tokens.refreshToken);
    await expectDomainError(stolen(w, tokens.refreshToken), "unauthenticated", "REFRESH_TOKEN_REUSED");

    await expectDomainError(other.sessions.requireLive(sessionId), "unauthenticated", "SESSION_REVOKED");
  });

  it("without the notification, another instance serves its cached copy for at most session_cache_ttl", async () => {
    // Not a rule being broken: the bound on how stale a lost notification can leave a cache.
    const { w, tokens, sessionId } = await signedIn({ session_cache_ttl: "5s" });
    const other = await secondInstance(w, { session_cache_ttl: "5s" });
    await other.sessions.requireLive(sessionId);
    w.channel.dropping = true;

    await refresh(w, tokens.refreshToken);
    await expectDomainError(stolen(w, tokens.refreshToken), "unauthenticated", "REFRESH_TOKEN_REUSED");

    await expect(other.sessions.requireLive(sessionId)).resolves.toBeDefined();
    w.clock.advance(5);
    await expectDomainError(other.sessions.requireLive(sessionId), "unauthenticated", "SESSION_REVOKED");
  });
});

describe("the grace window of a retried refresh (refresh_reuse_grace, 2 s by default)", () => {
  it("gives the same client the same successor when it presents the used token again in time, without rotating twice", async () => {
    const { w, tokens, sessionId } = await signedIn();
    const first = await refresh(w, tokens.refreshToken);
    w.clock.advance(1);
    const again = await refresh(w, tokens.refreshToken);

    expect(again.refreshToken).toBe(first.refreshToken);
    expect(w.store.tables.sessions.get(sessionId)?.revokedAt).toBeNull();
    expect([...w.store.tables.refreshTokens.values()].filter((t) => t.sessionId === sessionId)).toHaveLength(2);
    expect(w.store.audited("auth.refresh").map((e) => e.details)).toEqual([{ generation: "2" }, { retried_within_grace: "true" }]);
    // The successor still works once, as any refresh token.
    await expect(refresh(w, first.refreshToken)).resolves.toBeDefined();
  });

  it("revokes the session when the used token comes back after the grace window, even from the same client", async () => {
    const { w, tokens, sessionId } = await signedIn();
    await refresh(w, tokens.refreshToken);
    w.clock.advance(2);
    await expectDomainError(refresh(w, tokens.refreshToken), "unauthenticated", "REFRESH_TOKEN_REUSED");
    expect(w.store.tables.sessions.get(sessionId)?.revokeReason).toBe("refresh_token_reuse");
  });

  it("revokes the session when another client presents the used token within the window", async () => {
    const { w, tokens, sessionId } = await signedIn();
    await refresh(w, tokens.refreshToken);
    await expectDomainError(stolen(w, tokens.refreshToken), "unauthenticated", "REFRESH_TOKEN_REUSED");
    expect(w.store.tables.sessions.get(sessionId)?.revokeReason).toBe("refresh_token_reuse");
  });

  it("revokes the session when the successor was used already: the window hands out a token only once it is unused", async () => {
    const { w, tokens, sessionId } = await signedIn();
    const first = await refresh(w, tokens.refreshToken);
    await refresh(w, first.refreshToken);
    await expectDomainError(refresh(w, tokens.refreshToken), "unauthenticated", "REFRESH_TOKEN_REUSED");
    expect(w.store.tables.sessions.get(sessionId)?.revokeReason).toBe("refresh_token_reuse");
  });

  it("has no window when refresh_reuse_grace is 0", async () => {
    const { w, tokens } = await signedIn({ refresh_reuse_grace: 0 });
    await refresh(w, tokens.refreshToken);
    await expectDomainError(refresh(w, tokens.refreshToken), "unauthenticated", "REFRESH_TOKEN_REUSED");
  });

  it("keeps the successor sealed at rest: the stored row holds no usable token", async () => {
    const { w, tokens } = await signedIn();
    const first = await refresh(w, tokens.refreshToken);
    const row = w.store.tables.refreshTokens.get(sha256Hex(tokens.refreshToken))!;
    expect(row.successorSealed).toBeTruthy();
    expect(row.successorSealed).not.toContain(first.refreshToken);
    expect(w.box.open(row.successorSealed!)).toBe(first.refreshToken);
  });
});

describe("session lifetime, checked on every use of a cached session", () => {
  it("refuses a session cached seconds before its absolute expiry once the clock passes it", async () => {
    const { w, sessionId } = await signedIn({ session_absolute_timeout: "1h", session_cache_ttl: "5s" });
    w.clock.advance(3600 - 2);
    await w.sessions.requireLive(sessionId);

    // One second later it is served from the cache (no read) ...
    w.clock.advance(1);
    const reads = w.store.callCount("sessions.findById");
    await w.sessions.requireLive(sessionId);
    expect(w.store.callCount("sessions.findById")).toBe(reads);

    // ... and past the expiry it is refused although the cache still holds it.
    w.clock.advance(2);
    expect(cached(w, "sessions")).toBe(1);
    await expectDomainError(w.sessions.requireLive(sessionId), "unauthenticated", "SESSION_EXPIRED");
    expect(cached(w, "sessions")).toBe(0);
  });

  it("refuses a refresh once the session's absolute lifetime has passed", async () => {
    const { w, tokens } = await signedIn({ session_absolute_timeout: "1h" });
    w.clock.advance(3600);
    await expectDomainError(refresh(w, tokens.refreshToken), "unauthenticated", "SESSION_EXPIRED");
  });

  it("refuses a session that went idle while it sat in the cache", async () => {
    // A cache that outlives the idle timeout, so the idle deadline passes while the entry is fresh.
    const { w, sessionId } = await signedIn({ session_idle_timeout: "30s", session_cache_ttl: "60s" });
    await w.sessions.requireLive(sessionId);

    w.clock.advance(31);
    expect(cached(w, "sessions")).toBe(1);
    await expectDomainError(w.sessions.requireLive(sessionId), "unauthenticated", "SESSION_IDLE_TIMEOUT");
  });

  it("keeps a session alive while it is used within the idle timeout", async () => {
    const { w, sessionId } = await signedIn({ session_idle_timeout: "10m" });
    for (let minute = 0; minute < 60; minute += 5) {
      w.clock.advance(5 * 60);
      await w.sessions.requireLive(sessionId);
    }
    expect(w.store.tables.sessions.get(sessionId)?.lastSeenAt).toEqual(w.clock.now());
  });

  // lastSeenAt is written at most once a minute, but at least twice per idle timeout: a session
  // in regular use is never refused as idle, whatever the timeout.
  it("keeps a session used every 50 s alive under a 90 s idle timeout", async () => {
    const { w, sessionId } = await signedIn({ session_idle_timeout: "90s", session_cache_ttl: "5s" });
    for (let i = 0; i < 4; i++) {
      w.clock.advance(50);
      await w.sessions.requireLive(sessionId);
    }
  });
});
