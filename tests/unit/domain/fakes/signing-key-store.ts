import type { SigningKeyRow } from "../../../../src/domain/records.js";
import type { SigningKeyStore } from "../../../../src/domain/store/signing-key-store.js";
import { copy, type Rows } from "./tables.js";

/** SigningKeyRepository in memory: what the real KeyStore and TokenService run on. */
export class MemorySigningKeyStore implements SigningKeyStore {
  constructor(private readonly rows: Rows) {}

  private newestFirst(): SigningKeyRow[] {
    return [...this.rows.tables.signingKeys.values()].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  async all(): Promise<SigningKeyRow[]> {
    return this.newestFirst().map(copy);
  }

  async current(algorithm: string): Promise<SigningKeyRow | undefined> {
    const k = this.newestFirst().find((r) => !r.retiredAt && r.algorithm === algorithm);
    return k && copy(k);
  }

  async insert(row: Omit<SigningKeyRow, "retiredAt" | "verifyUntil">): Promise<void> {
    this.rows.insert(this.rows.tables.signingKeys, row.kid, { ...row, retiredAt: null, verifyUntil: null }, "signing_keys_pkey");
  }

  async retireOthers(algorithm: string, keepKid: string, now: Date, verifyUntil: Date): Promise<string[]> {
    const kids = this.newestFirst()
      .filter((k) => k.algorithm === algorithm && !k.retiredAt && k.kid !== keepKid)
      .map((k) => k.kid);
    for (const kid of kids) this.rows.update(this.rows.tables.signingKeys, kid, { retiredAt: now, verifyUntil });
    return kids;
  }

  async lockRotation(): Promise<void> {
    await this.rows.lock("advisory:7345002");
  }
}
