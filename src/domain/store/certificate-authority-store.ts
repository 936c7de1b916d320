import type { CertificateAuthorityRow } from "../records.js";

export interface CertificateAuthorityStore {
  /** The CAs not retired, oldest first. */
  trusted(): Promise<CertificateAuthorityRow[]>;
  /** False when an active CA of this kind exists already (another instance made it first). */
  createIfNone(row: Omit<CertificateAuthorityRow, "retiredAt">): Promise<boolean>;
}
