import { randomUUID } from "node:crypto";
import type { Clock } from "../../clock.js";
import type { SecretBox } from "../../crypto/master-key.js";
import { createX509Authority, openX509Authority, type X509Authority } from "../../crypto/x509/x509-authority.js";
import type { CertificateAuthorityStore } from "../store/certificate-authority-store.js";

export interface ClusterTlsAuthorityDeps {
  store: { certificateAuthorities: Pick<CertificateAuthorityStore, "activeX509" | "createX509IfNone"> };
  box: SecretBox;
  clock: Clock;
  clusterName: string;
}

/** Ten years: agents pin this CA, so it outlives every certificate it signs by far. */
const CA_LIFETIME_MS = 10 * 365 * 86_400_000;

/**
 * The cluster's X.509 CA for agents' mTLS (and the server's certificate in the auto TLS mode):
 * made on first start and kept in the database with its private key sealed by the master key;
 * instances sharing a database share it (the first to start makes it, the others read it).
 */
export class ClusterTlsAuthority {
  private authority?: X509Authority;

  constructor(private readonly d: ClusterTlsAuthorityDeps) {}

  async init(): Promise<void> {
    if (!(await this.d.store.certificateAuthorities.activeX509())) {
      const now = this.d.clock.now();
      const { certificatePem, privateKeyPem } = await createX509Authority({
        commonName: `Warden cluster CA (${this.d.clusterName})`,
        notBefore: new Date(now.getTime() - 60_000),
        notAfter: new Date(now.getTime() + CA_LIFETIME_MS),
      });
      // A concurrent first start keeps one (unique index); both then read that one.
      await this.d.store.certificateAuthorities.createX509IfNone({
        id: randomUUID(),
        certificatePem,
        privateKeyEncrypted: this.d.box.seal(privateKeyPem),
        createdAt: now,
      });
    }
    const row = await this.d.store.certificateAuthorities.activeX509();
    if (!row) throw new Error("no X.509 CA after creating one");
    // Sealed with another master key, or edited by hand: refused here rather than trusted.
    this.authority = openX509Authority(row.certificatePem, this.d.box.open(row.privateKeyEncrypted));
  }

  /** The CA that signs, opened. */
  signer(): X509Authority {
    if (!this.authority) throw new Error("ClusterTlsAuthority.init() has not run");
    return this.authority;
  }

  /** The CA certificates to trust (PEM), for GetTrustedCAs and agents. */
  trustedPem(): string[] {
    return [this.signer().certificatePem];
  }
}
