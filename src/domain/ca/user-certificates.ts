import type { Clock } from "../../clock.js";
import { encodeCertificate, randomCertificateSerial } from "../../crypto/ssh/ssh-certificate.js";
import { parseSshPublicKey, SshKeyError, type SshPublicKey } from "../../crypto/ssh/ssh-public-key.js";
import type { AuditLog } from "../audit/audit-log.js";
import { auditActor } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, permissionDenied } from "../errors.js";
import type { Principal } from "../principal.js";
import type { RoleCatalog } from "../rbac/role-catalog.js";
import type { CertificateAuthorities, SshAuthority } from "./certificate-authorities.js";
import { sshAccessOf } from "./ssh-access.js";
import type { LockRegistry } from "../lock/lock-registry.js";
import type { AccessGrants } from "../access/access-grants.js";

export interface UserCertificatesDeps {
  authorities: Pick<CertificateAuthorities, "signer" | "hostCaKnownHosts">;
  roles: Pick<RoleCatalog, "find">;
  clock: Clock;
  audit: AuditLog;
  /** ssh_cert_max_ttl: the longest certificate, whatever the roles allow. */
  maxTtlSeconds: number;
  /** ssh_cert_default_ttl: when the request names no ttl. */
  defaultTtlSeconds: number;
  /** Admins' locks: a locked user or role gets nothing, a locked login is left out. */
  locks: Pick<LockRegistry, "requireUnlocked">;
  /** Approved access requests: a certificate ends no later than the first grant the caller holds. */
  grants: Pick<AccessGrants, "firstExpiry">;
}

export interface IssuedUserCertificate {
  certificate: string;
  principals: string[];
  validAfter: Date;
  validBefore: Date;
  serial: bigint;
  /** "@cert-authority * <host CA>" lines for known_hosts. */
  hostCaKnownHosts: string[];
}

/** Certificates start this much before now, so a server whose clock is a little behind accepts them. */
const BACKDATE_SECONDS = 60;

/**
 * AuthService/IssueUserCerts: an OpenSSH user certificate for a signed-in user's public key,
 * signed by the user CA. Principals are the logins of the user's roles (none: refused, since a
 * certificate without principals would be good for every login); validity is the requested ttl
 * capped by the roles' max_session_ttl and ssh_cert_max_ttl; extensions are those the roles
 * permit. Logins an admin locked are left out (every one locked: refused with LOCKED). Audited
 * with the key's fingerprint and the serial.
 */
export class UserCertificates {
  constructor(private readonly d: UserCertificatesDeps) {}

  async issue(caller: Principal, publicKeyLine: string, requestedTtlSeconds: number | undefined, meta: RequestMeta): Promise<IssuedUserCertificate> {
    if (caller.kind !== "user") throw permissionDenied("USER_SESSION_REQUIRED", "SSH certificates are issued to signed-in users");
    let publicKey;
    try {
      publicKey = parseSshPublicKey(publicKeyLine);
    } catch (err) {
      if (err instanceof SshKeyError) throw invalidArgument("public_key", err.message);
      throw err;
    }
    if (requestedTtlSeconds !== undefined && requestedTtlSeconds <= 0) throw invalidArgument("ttl", "must be positive");

    const roles = (await Promise.all(caller.roles.map((name) => this.d.roles.find(name)))).filter((r) => r !== undefined);
    const access = sshAccessOf(roles, caller.traits);
    if (access.logins.length === 0)
      throw new DomainError("permission_denied", "SSH_LOGINS_REQUIRED", "none of your roles grants an SSH login (a role's logins)");
    const { logins } = this.d.locks.requireUnlocked({ userId: caller.userId, roles: caller.roles, logins: access.logins });

    const cap = Math.min(this.d.maxTtlSeconds, access.maxTtlSeconds ?? this.d.maxTtlSeconds);
    const now = this.d.clock.now();
    // Granted roles' logins must not outlive the grant (a certificate cannot be taken back).
    const grantEnds = this.d.grants.firstExpiry(caller.userId);
    const grantLeft = grantEnds ? Math.max(1, Math.floor((grantEnds.getTime() - now.getTime()) / 1000)) : cap;
    const ttl = Math.min(requestedTtlSeconds ?? this.d.defaultTtlSeconds, cap, grantLeft);
    const { validAfter, validBefore } = certificateValidity(now, ttl);
    const { line, serial, ca } = signUserCertificate(this.d.authorities, {
      publicKey,
      keyId: `${caller.userId}@warden`,
      principals: logins,
      extensions: access.extensions,
      validAfter,
      validBefore,
    });
    await this.d.audit.recordAlone({
      eventType: "ssh.certificate.issue",
      outcome: "success",
      ...auditActor(caller, meta),
      targetType: "user",
      targetId: caller.userId,
      details: {
        serial: serial.toString(),
        principals: logins.join(","),
        valid_before: validBefore.toISOString(),
        key_type: publicKey.type,
        ca: ca.fingerprint,
      },
    });
    return {
      certificate: line,
      principals: logins,
      validAfter,
      validBefore,
      serial,
      hostCaKnownHosts: this.d.authorities.hostCaKnownHosts(),
    };
  }
}

/** Back-dated by BACKDATE_SECONDS, whole seconds, ttlSeconds from now. */
export function certificateValidity(now: Date, ttlSeconds: number): { validAfter: Date; validBefore: Date } {
  const second = Math.floor(now.getTime() / 1000) * 1000;
  return { validAfter: new Date(second - BACKDATE_SECONDS * 1000), validBefore: new Date(second + ttlSeconds * 1000) };
}

export interface UserCertificateContent {
  publicKey: SshPublicKey;
  /** Also the certificate's comment. */
  keyId: string;
  principals: string[];
  extensions: string[];
  validAfter: Date;
  validBefore: Date;
}

/** An OpenSSH user certificate signed by the user CA that signs now (the new one during a rotation), with a random 63-bit serial. */
export function signUserCertificate(
  authorities: Pick<CertificateAuthorities, "signer">,
  c: UserCertificateContent,
): { line: string; serial: bigint; ca: SshAuthority } {
  const serial = randomCertificateSerial();
  const ca = authorities.signer("user");
  const { line } = encodeCertificate({
    publicKey: c.publicKey,
    caPrivateKey: ca.privateKey,
    caPublicKeyBlob: ca.blob,
    certType: "user",
    keyId: c.keyId,
    serial,
    principals: c.principals,
    validAfter: c.validAfter,
    validBefore: c.validBefore,
    criticalOptions: {},
    extensions: c.extensions,
    comment: c.keyId,
  });
  return { line, serial, ca };
}
