import { createHash, createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { SigningKeyStore } from "../domain/store/signing-key-store.js";
import type { Ports } from "../domain/store/transactional.js";
import type { SecretBox } from "./master-key.js";
import { randomHex } from "./random.js";

/** This instance's master key is not the one the database's secrets were sealed with. */
export class MasterKeyMismatchError extends Error {}

export type SigningAlgorithm = "EdDSA" | "ES256" | "HS256";

export interface SigningKey {
  kid: string;
  algorithm: SigningAlgorithm;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk?: Record<string, unknown>;
  createdAt: Date;
  retiredAt?: Date;
  verifyUntil?: Date;
}

export interface KeyStoreOptions {
  algorithm: SigningAlgorithm;
  hs256Secret?: string;
  /** How long a key signs before a new one takes over. */
  rotationSeconds: number;
  /** The longest token lifetime: a retired key verifies this long (plus a minute). */
  maxTokenTtlSeconds: number;
}

/**
 * Signing keys persisted in the database (private halves sealed with the master key).
 * The newest unretired key signs; retired keys verify until their last token has expired.
 */
export class KeyStore {
  private keys = new Map<string, SigningKey>();
  private signing: SigningKey | undefined;
  private lastReload = 0;

  constructor(
    private readonly store: Ports<{ signingKeys: SigningKeyStore }>,
    private readonly box: SecretBox,
    private readonly clock: Clock,
    private readonly opts: KeyStoreOptions,
    private readonly log: Logger,
  ) {}

  get algorithm(): SigningAlgorithm {
    return this.opts.algorithm;
  }

  async init(): Promise<void> {
    if (this.opts.algorithm === "HS256") {
      const secret = this.opts.hs256Secret!;
      const key = createSecretKey(Buffer.from(secret, "utf8"));
      const kid = `hs256-${createHash("sha256").update(secret).digest("hex").slice(0, 12)}`;
      this.signing = { kid, algorithm: "HS256", privateKey: key, publicKey: key, createdAt: new Date(0) };
      this.keys.set(kid, this.signing);
      return;
    }
    await this.reload();
    await this.rotateIfDue();
  }

  signingKey(): SigningKey {
    if (!this.signing) throw new Error("key store not initialised");
    return this.signing;
  }

  /** A verification key by kid; an unknown kid triggers one reload (another instance may have rotated). */
  async verificationKey(kid: string): Promise<SigningKey | undefined> {
    let key = this.keys.get(kid);
    if (!key && this.opts.algorithm !== "HS256" && Date.now() - this.lastReload > 5000) {
      await this.reload();
      key = this.keys.get(kid);
    }
    if (!key) return undefined;
    if (key.verifyUntil && key.verifyUntil <= this.clock.now()) return undefined;
    return key;
  }

  /** Public keys for /.well-known/jwks.json (none for HS256). */
  jwks(): { keys: Record<string, unknown>[] } {
    const now = this.clock.now();
    const keys = [...this.keys.values()]
      .filter((k) => k.publicJwk && (!k.verifyUntil || k.verifyUntil > now))
      .map((k) => ({ ...k.publicJwk, kid: k.kid, alg: k.algorithm, use: "sig" }));
    return { keys };
  }

  async reload(): Promise<void> {
    this.lastReload = Date.now();
    const rows = await this.store.signingKeys.all();
    const next = new Map<string, SigningKey>();
    let signing: SigningKey | undefined;
    for (const row of rows) {
      if (row.algorithm !== this.opts.algorithm) continue;
      const privateKey = createPrivateKey(this.open(row.kid, row.privateKeyEncrypted));
      const key: SigningKey = {
        kid: row.kid,
        algorithm: row.algorithm as SigningAlgorithm,
        privateKey,
        publicKey: createPublicKey(privateKey),
        publicJwk: row.publicJwk,
        createdAt: row.createdAt,
        retiredAt: row.retiredAt ?? undefined,
        verifyUntil: row.verifyUntil ?? undefined,
      };
      next.set(key.kid, key);
      if (!key.retiredAt && (!signing || key.createdAt > signing.createdAt)) signing = key;
    }
    this.keys = next;
    this.signing = signing;
  }

  /** A sealed private key that this instance's master key cannot open was sealed by another one. */
  private open(kid: string, sealed: string): string {
    try {
      return this.box.open(sealed);
    } catch {
      throw new MasterKeyMismatchError(
        `the signing key ${kid} in the database was sealed with a different master key: every instance that shares a database must be given the same master key (WARDEN_MASTER_KEY or WARDEN_MASTER_KEY_FILE)`,
      );
    }
  }

  /** Rotates when there is no signing key or the current one is older than the rotation period. */
  async rotateIfDue(): Promise<boolean> {
    if (this.opts.algorithm === "HS256") return false;
    const due = (k: SigningKey | undefined) => !k || this.clock.now().getTime() - k.createdAt.getTime() >= this.opts.rotationSeconds * 1000;
    if (!due(this.signing)) return false;
    const rotated = await this.store.transaction(async (tx) => {
      await tx.signingKeys.lockRotation();
      const current = await tx.signingKeys.current(this.opts.algorithm);
      if (current && !due({ createdAt: current.createdAt } as SigningKey)) return false;
      await this.insertNewKey(tx);
      return true;
    });
    await this.reload();
    if (rotated) this.log.info({ kid: this.signing?.kid }, "signing key rotated on schedule");
    return rotated;
  }

  /** Rotates now; returns the new and the previous kid. */
  async rotateNow(): Promise<{ kid: string; previousKid: string }> {
    if (this.opts.algorithm === "HS256") throw new Error("HS256 keys come from configuration and cannot rotate here");
    const previousKid = this.signing?.kid ?? "";
    const kid = await this.store.transaction(async (tx) => {
      await tx.signingKeys.lockRotation();
      return this.insertNewKey(tx);
    });
    await this.reload();
    return { kid, previousKid };
  }

  private async insertNewKey(tx: { signingKeys: SigningKeyStore }): Promise<string> {
    const now = this.clock.now();
    const { privateKey, publicKey } = this.opts.algorithm === "EdDSA" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: "P-256" });
    const kid = `${now.toISOString().slice(0, 10).replace(/-/g, "")}-${randomHex(6)}`;
    await tx.signingKeys.insert({
      kid,
      algorithm: this.opts.algorithm,
      publicJwk: publicKey.export({ format: "jwk" }) as Record<string, unknown>,
      privateKeyEncrypted: this.box.seal(privateKey.export({ format: "pem", type: "pkcs8" }).toString()),
      createdAt: now,
    });
    const verifyUntil = new Date(now.getTime() + (this.opts.maxTokenTtlSeconds + 60) * 1000);
    await tx.signingKeys.retireOthers(this.opts.algorithm, kid, now, verifyUntil);
    return kid;
  }
}
