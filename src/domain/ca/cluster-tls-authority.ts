import { randomUUID } from "node:crypto";
import type { Clock } from "../../clock.js";
import type { SecretBox } from "../../crypto/master-key.js";
import { X509Certificate } from "node:crypto";
import { createX509Authority, openX509Authority, type X509Authority } from "../../crypto/x509/x509-authority.js";
import { generateP256KeyPair, issueX509Certificate } from "../../crypto/x509/x509-issue.js";
import type { CertificateAuthorityStore } from "../store/certificate-authority-store.js";

export interface ClusterTlsAuthorityDeps {
  store: { certificateAuthorities: Pick<CertificateAuthorityStore, "activeX509" | "createX509IfNone"> };
  box: SecretBox;
  clock: Clock;
  clusterName: string;
}

/** Client-certificate verdicts kept (one per agent certificate in use). */
const MAX_VERDICTS = 10_000;

/** Ten years: agents pin this CA, so it outlives every certificate it signs by far. */
const CA_LIFETIME_MS = 10 * 365 * 86_400_000;

/**
 * The cluster's X.509 CA for agents' mTLS (and the server's certificate in the auto TLS mode):
 * made on first start and kept in the database with its private key sealed by the master key;
 * instances sharing a database share it (the first to start makes it, the others read it).
 */
export class ClusterTlsAuthority {
  private authority?: X509Authority;
  private readonly verdicts = new Map<string, string | null>();

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

  /** A server certificate for the auto TLS mode: a fresh P-256 key, these names, `days` of validity. */
  async issueServerCertificate(names: { dns: string[]; ips: string[] }, days: number): Promise<{ certPem: string; keyPem: string; notAfter: Date }> {
    const { privateKey, publicKey } = generateP256KeyPair();
    const now = this.d.clock.now();
    const notAfter = new Date(now.getTime() + days * 86_400_000);
    const certPem = await issueX509Certificate({
      authority: this.signer(),
      subjectPublicKey: publicKey,
      commonName: names.dns[0] ?? names.ips[0] ?? this.d.clusterName,
      dnsNames: names.dns,
      ipAddresses: names.ips,
      usage: "server",
      notBefore: new Date(now.getTime() - 60_000),
      notAfter,
    });
    return { certPem, keyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(), notAfter };
  }

  /**
   * The agent id a TLS client certificate proves: one this CA issued (GenerateHostCerts), valid
   * now, for client authentication, naming the agent in its common name. Undefined otherwise.
   * Verdicts are kept per certificate fingerprint (a signature check per call would cost more
   * than the rest of a heartbeat); validity is checked on every call.
   */
  agentIdOf(cert: X509Certificate): string | undefined {
    const now = this.d.clock.now().getTime();
    if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return undefined;
    let verdict = this.verdicts.get(cert.fingerprint256);
    if (verdict === undefined) {
      const ca = this.signer().certificate;
      const issued = cert.checkIssued(ca) && cert.verify(ca.publicKey) && !cert.ca && (cert.keyUsage ?? ["1.3.6.1.5.5.7.3.2"]).includes("1.3.6.1.5.5.7.3.2");
      const cn = /^CN=([0-9a-f-]{36})$/m.exec(cert.subject)?.[1];
      verdict = issued && cn ? cn : null;
      if (this.verdicts.size >= MAX_VERDICTS) this.verdicts.delete(this.verdicts.keys().next().value!);
      this.verdicts.set(cert.fingerprint256, verdict);
    }
    return verdict ?? undefined;
  }
}
