import { generateKeyPairSync } from "node:crypto";
import { Writable } from "node:stream";
import { Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { CompactSign, compactVerify, createLocalJWKSet } from "jose";
import { describe, expect, it } from "vitest";
import { AdminService } from "../../gen/warden/admin/v1/admin_service_pb.js";
import { AuditService, ChainCheck, type AuditCheckpoint } from "../../gen/warden/audit/v1/audit_service_pb.js";
import type { AuditRow } from "../../src/domain/records.js";
import { createLogger } from "../../src/logger.js";
import { adminLogin, login, newUser, type SignedIn } from "../helpers/accounts.js";
import {
  auditRows,
  disableTriggers,
  execute,
  LEAKED_KEY,
  LEGACY_SHA256,
  rewriteChain,
  SHA256_AS_V1,
  withoutRenumbered,
  WRONG_KEY,
} from "../helpers/audit-attack.js";
import { expectError } from "../helpers/expect-error.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

/**
 * An attacker with write access to the database, but not the master key or the signing keys,
 * rewrites the audit log to hide something (append-only triggers off). Each case starts from
 * its own app: some history, a checkpoint signed through the API, some more history.
 */
interface Scene {
  t: TestApp;
  admin: SignedIn;
  rows: AuditRow[];
  /** Signed at start (the bootstrap admin's events), and after the first part of the history. */
  checkpoints: AuditCheckpoint[];
  /** A row both checkpoints precede and follow: what the attacker wants to change. */
  target: AuditRow;
}

async function scene(): Promise<Scene> {
  const t = await createTestApp();
  const admin = await adminLogin(t);
  for (let i = 0; i < 3; i++) await newUser(t, { tag: "before" });
  await expectError(login(t, admin.email, "Wrong-password-0123"), Code.Unauthenticated);
  await t.client(AuditService).createAuditCheckpoint({}, admin.auth);
  for (let i = 0; i < 2; i++) await newUser(t, { tag: "after" });
  const checkpoints = (await t.client(AuditService).listAuditCheckpoints({}, admin.auth)).checkpoints.reverse();
  const rows = await auditRows(t);
  const [start, pinned] = checkpoints.map((c) => Number(c.sequence));
  const target = rows.find((r) => r.sequence === Math.floor((start! + pinned!) / 2))!;
  expect(checkpoints).toHaveLength(2);
  expect(start! < target.sequence && target.sequence < pinned! && pinned! < rows.length).toBe(true);
  return { t, admin, rows, checkpoints, target };
}

const verify = (s: Scene) => s.t.client(AuditService).verifyAuditChain({}, s.admin.auth);
const edited = (rows: AuditRow[], target: AuditRow) =>
  rows.map((r) => (r.sequence === target.sequence ? { ...r, outcome: "success", details: { note: "nothing happened" } } : r));

interface Rewrite {
  name: string;
  /** Rewrites the log; returns what the verifier must report. */
  apply(s: Scene): Promise<{ check: ChainCheck; sequence: number }>;
}

const seqOf = (c: AuditCheckpoint | undefined) => Number(c!.sequence);

const REWRITES: Rewrite[] = [
  {
    name: "the whole chain re-linked as plain SHA-256, marked legacy (the pre-keyed format), head moved",
    async apply(s) {
      await rewriteChain(s.t, edited(s.rows, s.target), LEGACY_SHA256);
      // Legacy links are believed only as history before keyed ones: the signed checkpoints say otherwise.
      return { check: ChainCheck.CHECKPOINT, sequence: seqOf(s.checkpoints[0]) };
    },
  },
  {
    name: "the whole chain re-linked as plain SHA-256, key ids kept",
    async apply(s) {
      await rewriteChain(s.t, edited(s.rows, s.target), SHA256_AS_V1);
      return { check: ChainCheck.KEY, sequence: 1 };
    },
  },
  {
    name: "the whole chain re-linked with HMACs under the attacker's own key",
    async apply(s) {
      await rewriteChain(s.t, edited(s.rows, s.target), WRONG_KEY);
      return { check: ChainCheck.KEY, sequence: 1 };
    },
  },
  {
    name: "one event edited and the chain after it re-linked (plain SHA-256)",
    async apply(s) {
      await rewriteChain(s.t, edited(s.rows, s.target), SHA256_AS_V1, s.target.sequence);
      return { check: ChainCheck.KEY, sequence: s.target.sequence };
    },
  },
  {
    name: "one event edited and the chain after it re-linked with the real chain key (leaked)",
    async apply(s) {
      await rewriteChain(s.t, edited(s.rows, s.target), LEAKED_KEY, s.target.sequence);
      // Every HMAC holds; the checkpoint signed after the event does not.
      return { check: ChainCheck.CHECKPOINT, sequence: seqOf(s.checkpoints[1]) };
    },
  },
  {
    name: "one event deleted, the numbers left as they were",
    async apply(s) {
      await rewriteChain(
        s.t,
        s.rows.filter((r) => r.sequence !== s.target.sequence),
        LEAKED_KEY,
        s.target.sequence,
      );
      return { check: ChainCheck.SEQUENCE_GAP, sequence: s.target.sequence + 1 };
    },
  },
  {
    name: "one event deleted, later ones renumbered and re-linked (plain SHA-256)",
    async apply(s) {
      await rewriteChain(s.t, withoutRenumbered(s.rows, s.target.sequence), SHA256_AS_V1, s.target.sequence);
      return { check: ChainCheck.KEY, sequence: s.target.sequence };
    },
  },
  {
    name: "one event deleted, later ones renumbered and re-linked with the real chain key (leaked)",
    async apply(s) {
      await rewriteChain(s.t, withoutRenumbered(s.rows, s.target.sequence), LEAKED_KEY, s.target.sequence);
      return { check: ChainCheck.CHECKPOINT, sequence: seqOf(s.checkpoints[1]) };
    },
  },
  {
    name: "the newest events and the head rolled back to before the last checkpoint (leaked key)",
    async apply(s) {
      const before = s.rows.filter((r) => r.sequence < seqOf(s.checkpoints[1]));
      await rewriteChain(s.t, before, LEAKED_KEY, before.length + 1);
      return { check: ChainCheck.CHECKPOINT, sequence: seqOf(s.checkpoints[1]) };
    },
  },
];

describe("rewriting the audit log with database access alone is detected", () => {
  it.each(REWRITES)("$name", async ({ apply }) => {
    const s = await scene();
    try {
      await expect(verify(s)).resolves.toMatchObject({ intact: true, checkedCheckpoints: 2n });
      const expected = await apply(s);
      const r = await verify(s);
      expect(r, r.problem).toMatchObject({ intact: false, failedCheck: expected.check, firstBrokenSequence: BigInt(expected.sequence) });
    } finally {
      await s.t.close();
    }
  });
});

/** The checkpoints table as an attacker can write it (triggers off). */
const setCheckpoint = (t: TestApp, number: bigint, change: ReturnType<typeof sql>) =>
  execute(t, sql`update audit_checkpoints set ${change} where number = ${number}`);

describe("signed checkpoints", () => {
  /** The JWKS the server publishes at /.well-known/jwks.json. */
  const jwksOf = (t: TestApp) => createLocalJWKSet(t.app.keys.jwks() as Parameters<typeof createLocalJWKSet>[0]);

  it("verify with the server's JWKS and vouch for the event at their sequence", async () => {
    const s = await scene();
    try {
      const { checkpoint } = await s.t.client(AuditService).getAuditCheckpoint({}, s.admin.auth);
      expect(checkpoint).toEqual(s.checkpoints[1]);
      const { payload, protectedHeader } = await compactVerify(checkpoint!.jws, jwksOf(s.t));
      expect(protectedHeader).toMatchObject({ kid: checkpoint!.kid, typ: "warden-audit-checkpoint" });
      const claims = JSON.parse(new TextDecoder().decode(payload));
      expect(claims).toMatchObject({ iss: "warden", n: 2, seq: Number(checkpoint!.sequence), hash: checkpoint!.hash });
      expect(s.rows.find((r) => r.sequence === claims.seq)?.hash).toBe(claims.hash);
    } finally {
      await s.t.close();
    }
  });

  it("stop verifying once their payload is changed, and VerifyAuditChain names the checkpoint", async () => {
    const s = await scene();
    try {
      const cp = s.checkpoints[1]!;
      const [header, , signature] = cp.jws.split(".");
      const forgedPayload = Buffer.from(JSON.stringify({ iss: "warden", n: 2, seq: Number(cp.sequence), hash: "f".repeat(64), iat: 1 })).toString("base64url");
      const forged = `${header}.${forgedPayload}.${signature}`;
      await expect(compactVerify(forged, jwksOf(s.t))).rejects.toThrow();

      await disableTriggers(s.t);
      await setCheckpoint(s.t, cp.number, sql`jws = ${forged}, hash = ${"f".repeat(64)}`);
      const r = await verify(s);
      expect(r).toMatchObject({ intact: false, failedCheck: ChainCheck.CHECKPOINT, firstBrokenSequence: cp.sequence });
      expect(r.problem).toMatch(/checkpoint #2: signature does not verify/);
    } finally {
      await s.t.close();
    }
  });

  it("are judged by their signed payload, not by the columns beside it", async () => {
    const s = await scene();
    try {
      await disableTriggers(s.t);
      await setCheckpoint(s.t, s.checkpoints[1]!.number, sql`hash = ${"0".repeat(64)}`);
      const r = await verify(s);
      expect(r).toMatchObject({ intact: false, failedCheck: ChainCheck.CHECKPOINT });
      expect(r.problem).toMatch(/differs from what its signature covers/);
    } finally {
      await s.t.close();
    }
  });

  it("are numbered, so a removed one is missed", async () => {
    const s = await scene();
    try {
      await disableTriggers(s.t);
      await execute(s.t, sql`delete from audit_checkpoints where number = 1`);
      const r = await verify(s);
      expect(r).toMatchObject({ intact: false, failedCheck: ChainCheck.CHECKPOINT });
      expect(r.problem).toMatch(/checkpoint #1 is missing/);
    } finally {
      await s.t.close();
    }
  });

  it("cannot be re-signed by swapping a signing key's public half: the key that counts is the sealed private one", async () => {
    const s = await scene();
    try {
      const cp = s.checkpoints[1]!;
      const mine = generateKeyPairSync("ed25519");
      const claims = { iss: "warden", n: 2, seq: Number(cp.sequence), hash: "a".repeat(64), iat: 1 };
      const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
        .setProtectedHeader({ alg: "EdDSA", kid: cp.kid, typ: "warden-audit-checkpoint" })
        .sign(mine.privateKey);
      await disableTriggers(s.t);
      await setCheckpoint(s.t, cp.number, sql`jws = ${jws}, hash = ${claims.hash}`);
      await execute(s.t, sql`update signing_keys set public_jwk = ${JSON.stringify(mine.publicKey.export({ format: "jwk" }))}::jsonb where kid = ${cp.kid}`);
      const r = await verify(s);
      expect(r).toMatchObject({ intact: false, failedCheck: ChainCheck.CHECKPOINT, firstBrokenSequence: cp.sequence });
      expect(r.problem).toMatch(/signature does not verify/);
    } finally {
      await s.t.close();
    }
  });

  it("cannot be signed by a key the attacker adds to the signing-key table", async () => {
    const s = await scene();
    try {
      const cp = s.checkpoints[1]!;
      const mine = generateKeyPairSync("ed25519");
      const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify({ iss: "warden", n: 2, seq: Number(cp.sequence), hash: cp.hash, iat: 1 })))
        .setProtectedHeader({ alg: "EdDSA", kid: "attacker-key", typ: "warden-audit-checkpoint" })
        .sign(mine.privateKey);
      await disableTriggers(s.t);
      await execute(
        s.t,
        sql`insert into signing_keys (kid, algorithm, public_jwk, private_key_encrypted, created_at, retired_at, verify_until)
            values ('attacker-key', 'EdDSA', ${JSON.stringify(mine.publicKey.export({ format: "jwk" }))}::jsonb, 'v1.not.sealed.here', now(), now(), now())`,
      );
      await setCheckpoint(s.t, cp.number, sql`jws = ${jws}, kid = 'attacker-key'`);
      const r = await verify(s);
      expect(r).toMatchObject({ intact: false, failedCheck: ChainCheck.CHECKPOINT });
      expect(r.problem).toMatch(/which no stored signing key opens/);
    } finally {
      await s.t.close();
    }
  });

  it("signed by a retired key keep verifying after it has left the JWKS", async () => {
    const s = await scene();
    try {
      const oldKid = s.checkpoints[1]!.kid;
      await s.t.client(AdminService).rotateSigningKey({}, s.admin.auth);
      s.t.clock.advance(3 * 86400); // past the old key's verify_until
      const admin = await adminLogin(s.t);
      expect(s.t.app.keys.jwks().keys.map((k) => k.kid)).not.toContain(oldKid);
      const fresh = await s.t.client(AuditService).createAuditCheckpoint({}, admin.auth);
      expect(fresh.checkpoint?.kid).not.toBe(oldKid);
      await expect(s.t.client(AuditService).verifyAuditChain({}, admin.auth)).resolves.toMatchObject({ intact: true, checkedCheckpoints: 3n });
    } finally {
      await s.t.close();
    }
  });

  it("with HS256 tokens, are signed with the configured secret and verify", async () => {
    const t = await createTestApp({ jwt_algorithm: "HS256", jwt_hs256_secret: "an-hs256-secret-of-32-characters-or-more" });
    try {
      const admin = await adminLogin(t);
      const { checkpoint } = await t.client(AuditService).createAuditCheckpoint({}, admin.auth);
      expect(checkpoint?.kid).toMatch(/^hs256-/);
      await expect(t.client(AuditService).verifyAuditChain({}, admin.auth)).resolves.toMatchObject({ intact: true, checkedCheckpoints: 2n });
    } finally {
      await t.close();
    }
  });

  it("are written to the log as one line carrying the JWS", async () => {
    const lines: string[] = [];
    const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(chunk.toString()), done()) });
    const t = await createTestApp({}, { log: createLogger("info", stream) });
    try {
      const admin = await adminLogin(t);
      const { checkpoint } = await t.client(AuditService).createAuditCheckpoint({}, admin.auth);
      const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "audit checkpoint signed");
      expect(logged.map((l) => l.auditCheckpoint.number)).toEqual([1, 2]); // at start, then through the API
      expect(logged[1].auditCheckpoint).toMatchObject({ jws: checkpoint!.jws, sequence: Number(checkpoint!.sequence), hash: checkpoint!.hash });
    } finally {
      await t.close();
    }
  });
});

describe("audit chain key rotation", () => {
  it("new links use the raised key version; links under the older key still verify", async () => {
    const t = await createTestApp();
    const t2 = await createTestApp({ audit_chain_key_version: 2 }, { sameDatabaseAs: t });
    try {
      await newUser(t, { tag: "v1" });
      await newUser(t2, { tag: "v2" });
      const keyIds = new Set((await auditRows(t)).map((r) => r.keyId));
      expect([...keyIds].sort()).toEqual(["v1", "v2"]);
      const admin = await adminLogin(t2);
      await expect(t2.client(AuditService).verifyAuditChain({}, admin.auth)).resolves.toMatchObject({ intact: true });
      await expect(t.client(AuditService).verifyAuditChain({}, admin.auth)).resolves.toMatchObject({ intact: true });
    } finally {
      await t2.close();
      await t.close();
    }
  });
});
