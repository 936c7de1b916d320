import { and, asc, eq, isNotNull, isNull } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { certificateAuthorities, x509Authorities, type CertificateAuthorityRow, type X509AuthorityRow } from "../schema/index.js";
import type { CertificateAuthorityStore, RotationPhase } from "../../domain/store/certificate-authority-store.js";

const ca = certificateAuthorities;
const live = (kind: string) => and(eq(ca.kind, kind), isNull(ca.retiredAt));

export class CertificateAuthorityRepository implements CertificateAuthorityStore {
  constructor(private readonly db: DbOrTx) {}

  async trusted(): Promise<CertificateAuthorityRow[]> {
    return this.db.select().from(ca).where(isNull(ca.retiredAt)).orderBy(asc(ca.createdAt));
  }

  async createIfNone(row: Omit<CertificateAuthorityRow, "retiredAt">): Promise<boolean> {
    // The partial unique indexes (one settled, one rotating CA per kind) turn a second creation into no row.
    const inserted = await this.db.insert(ca).values(row).onConflictDoNothing().returning({ id: ca.id });
    return inserted.length > 0;
  }

  async advance(kind: string, from: RotationPhase, to: RotationPhase): Promise<boolean> {
    const moved = await this.db
      .update(ca)
      .set({ rotationPhase: to })
      .where(and(live(kind), eq(ca.rotationPhase, from)))
      .returning({ id: ca.id });
    return moved.length > 0;
  }

  async complete(kind: string, from: RotationPhase, now: Date): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [rotating] = await tx
        .select({ id: ca.id })
        .from(ca)
        .where(and(live(kind), eq(ca.rotationPhase, from)))
        .for("update");
      if (!rotating) return false;
      await tx
        .update(ca)
        .set({ retiredAt: now })
        .where(and(live(kind), isNull(ca.rotationPhase)));
      await tx.update(ca).set({ rotationPhase: null }).where(eq(ca.id, rotating.id));
      return true;
    });
  }

  async abandon(kind: string, now: Date): Promise<boolean> {
    const retired = await this.db
      .update(ca)
      .set({ retiredAt: now })
      .where(and(live(kind), isNotNull(ca.rotationPhase)))
      .returning({ id: ca.id });
    return retired.length > 0;
  }

  async activeX509(): Promise<X509AuthorityRow | undefined> {
    const [row] = await this.db.select().from(x509Authorities).where(isNull(x509Authorities.retiredAt));
    return row;
  }

  async createX509IfNone(row: Omit<X509AuthorityRow, "retiredAt">): Promise<boolean> {
    const inserted = await this.db.insert(x509Authorities).values(row).onConflictDoNothing().returning({ id: x509Authorities.id });
    return inserted.length > 0;
  }
}
