import type { CertificateAuthorityRow, X509AuthorityRow } from "../records.js";

export type RotationPhase = "init" | "update_clients" | "update_servers";

export interface CertificateAuthorityStore {
  /** The CAs not retired, oldest first. */
  trusted(): Promise<CertificateAuthorityRow[]>;
  /** False when a CA of this kind in this state (settled, or rotating) exists already. */
  createIfNone(row: Omit<CertificateAuthorityRow, "retiredAt">): Promise<boolean>;
  /** Moves the kind's rotating CA from one phase to the next; false when it is not in `from`. */
  advance(kind: string, from: RotationPhase, to: RotationPhase): Promise<boolean>;
  /** Ends a rotation: the settled CA is retired and the rotating one settles. False when no rotation is in `from`. */
  complete(kind: string, from: RotationPhase, now: Date): Promise<boolean>;
  /** Abandons a rotation: the rotating CA is retired. False when none is in progress. */
  abandon(kind: string, now: Date): Promise<boolean>;
  /** The active X.509 CA. */
  activeX509(): Promise<X509AuthorityRow | undefined>;
  /** False when an active X.509 CA exists already (another instance made it first). */
  createX509IfNone(row: Omit<X509AuthorityRow, "retiredAt">): Promise<boolean>;
}
