import { asc, isNull } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { certificateAuthorities, type CertificateAuthorityRow } from "../schema/index.js";
import type { CertificateAuthorityStore } from "../../domain/store/certificate-authority-store.js";

export class CertificateAuthorityRepository implements CertificateAuthorityStore {
  constructor(private readonly db: DbOrTx) {}

  async trusted(): Promise<CertificateAuthorityRow[]> {
    return this.db.select().from(certificateAuthorities).where(isNull(certificateAuthorities.retiredAt)).orderBy(asc(certificateAuthorities.createdAt));
  }

  async createIfNone(row: Omit<CertificateAuthorityRow, "retiredAt">): Promise<boolean> {
    // The partial unique index (one active CA per kind) turns a second creation into no row.
    const inserted = await this.db.insert(certificateAuthorities).values(row).onConflictDoNothing().returning({ id: certificateAuthorities.id });
    return inserted.length > 0;
  }
}
