import type { KeyObject } from "node:crypto";
import { parseSshPublicKey, SshKeyError, type SshPublicKey } from "../../crypto/ssh/ssh-public-key.js";
import { generateP256KeyPair, issueX509Certificate, parsePublicKeyPem } from "../../crypto/x509/x509-issue.js";
import type { CertificateAuthorities } from "../ca/certificate-authorities.js";
import type { ClusterTlsAuthority } from "../ca/cluster-tls-authority.js";
import { sshAccessOf } from "../ca/ssh-access.js";
import { certificateValidity, signUserCertificate } from "../ca/user-certificates.js";
import { DomainError, invalidArgument } from "../errors.js";
import type { AgentIdentityRow, RoleRow } from "../records.js";
import type { LockRegistry } from "../lock/lock-registry.js";

export interface IdentityCredentialsDeps {
  sshAuthorities: Pick<CertificateAuthorities, "signer" | "hostCaKnownHosts">;
  tlsAuthority: Pick<ClusterTlsAuthority, "signer" | "trustedPem">;
  clusterName: string;
  /** ssh_cert_max_ttl now (it may have shrunk since the identity was made). */
  maxTtlSeconds: number;
  /** Admins' locks: a locked identity or role gets nothing, a locked login is left out. */
  locks: Pick<LockRegistry, "requireUnlocked">;
}

/** The keys a bootstrap or renewal certifies, parsed before any token is spent. */
export interface CredentialKeys {
  ssh?: SshPublicKey;
  /** Undefined: the server makes a P-256 key pair when it issues. */
  tls?: KeyObject;
}

export interface IssuedCredentials {
  /** Empty when no SSH key was given. */
  sshCertificate: string;
  sshSerial?: bigint;
  principals: string[];
  tlsCertificate: string;
  /** PKCS#8 PEM, only when the server made the key pair. */
  tlsPrivateKey: string;
  tlsCa: string;
  trustedHostCas: string[];
  validBefore: Date;
  /** The validity both certificates were given (the identity's cert_ttl, capped). */
  ttlSeconds: number;
}

/** Invalid keys are the caller's mistake (INVALID_ARGUMENT), found before a token is looked at. */
export function parseCredentialKeys(sshPublicKey: string, tlsPublicKey: string): CredentialKeys {
  let ssh: SshPublicKey | undefined;
  if (sshPublicKey) {
    try {
      ssh = parseSshPublicKey(sshPublicKey);
    } catch (err) {
      if (err instanceof SshKeyError) throw invalidArgument("ssh_public_key", err.message);
      throw err;
    }
  }
  if (!tlsPublicKey) return { ssh };
  try {
    return { ssh, tls: parsePublicKeyPem(tlsPublicKey) };
  } catch (err) {
    throw invalidArgument("tls_public_key", (err as Error).message);
  }
}

/**
 * What an agent identity is given: an OpenSSH user certificate (when it sent an SSH key) with the
 * logins and extensions of its roles as they are now, and an X.509 client certificate whose CN is
 * the identity id and whose URI SAN is spiffe://<cluster>/bot/<name>. Both share one validity:
 * the identity's cert_ttl, capped by ssh_cert_max_ttl and the roles' max_session_ttl.
 */
export class IdentityCredentialIssuer {
  constructor(private readonly d: IdentityCredentialsDeps) {}

  /** `roles`: the identity's role rows that still exist. */
  async issue(identity: AgentIdentityRow, roles: RoleRow[], keys: CredentialKeys, now: Date): Promise<IssuedCredentials> {
    const access = sshAccessOf(roles);
    if (keys.ssh && access.logins.length === 0)
      throw new DomainError("permission_denied", "SSH_LOGINS_REQUIRED", "none of the agent identity's roles grants an SSH login (a role's logins)");
    const { logins } = this.d.locks.requireUnlocked({ agentIdentityId: identity.id, roles: identity.roles, logins: keys.ssh ? access.logins : [] });
    const ttlSeconds = Math.min(identity.certTtlSeconds, this.d.maxTtlSeconds, access.maxTtlSeconds ?? Infinity);
    const { validAfter, validBefore } = certificateValidity(now, ttlSeconds);

    const ssh = keys.ssh
      ? signUserCertificate(this.d.sshAuthorities, {
          publicKey: keys.ssh,
          keyId: `bot:${identity.name}`,
          principals: logins,
          extensions: access.extensions,
          validAfter,
          validBefore,
        })
      : undefined;
    const tls: { publicKey: KeyObject; privateKey?: KeyObject } = keys.tls ? { publicKey: keys.tls } : generateP256KeyPair();
    const tlsCertificate = await issueX509Certificate({
      authority: this.d.tlsAuthority.signer(),
      subjectPublicKey: tls.publicKey,
      commonName: identity.id,
      uris: [`spiffe://${this.d.clusterName}/bot/${identity.name}`],
      usage: "client",
      notBefore: validAfter,
      notAfter: validBefore,
    });
    return {
      sshCertificate: ssh?.line ?? "",
      sshSerial: ssh?.serial,
      principals: ssh ? logins : [],
      tlsCertificate,
      tlsPrivateKey: tls.privateKey ? tls.privateKey.export({ format: "pem", type: "pkcs8" }).toString() : "",
      tlsCa: this.d.tlsAuthority.trustedPem().join(""),
      trustedHostCas: this.d.sshAuthorities.hostCaKnownHosts(),
      validBefore,
      ttlSeconds,
    };
  }
}
