import type { Clock } from "../../clock.js";
import { constantTimeEqual, randomToken, sha256Hex } from "../../crypto/random.js";
import { sshFingerprint } from "../../crypto/ssh/ssh-key-line.js";
import { parseSshPublicKey, SshKeyError, type SshPublicKey } from "../../crypto/ssh/ssh-public-key.js";
import type { AuditLog } from "../audit/audit-log.js";
import { whereFrom } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import type { CertificateAuthorities } from "../ca/certificate-authorities.js";
import { sshAccessOf } from "../ca/ssh-access.js";
import { certificateValidity, signUserCertificate } from "../ca/user-certificates.js";
import { DomainError, invalidArgument, permissionDenied, unauthenticated } from "../errors.js";
import type { RoleCatalog } from "../rbac/role-catalog.js";
import type { JoinChallengeStore } from "../store/join-challenge-store.js";
import { challengePayload, payloadBinds, SPIFFE_CHALLENGE_PURPOSE, SPIFFE_CHALLENGE_TTL_SECONDS, type ChallengeBinding } from "./spiffe-challenge.js";
import type { SpiffeRoleMap } from "./spiffe-role-map.js";
import { svidSignatureValid } from "./spiffe-signature.js";
import type { LockRegistry } from "../lock/lock-registry.js";
import { readSvid, svidInvalid, verifySvid, type SpiffeTrust } from "./spiffe-svid.js";

/** The settings that turn SPIFFE on; absent, both calls answer SPIFFE_NOT_CONFIGURED. */
export interface SpiffeSettings {
  trust: SpiffeTrust;
  roleMap: SpiffeRoleMap;
  /** spiffe_cert_max_ttl. */
  maxTtlSeconds: number;
  /** Bound into every challenge, so an answer is good for this cluster only. */
  clusterName: string;
}

export interface SpiffeAuthenticationDeps {
  store: { joinChallenges: JoinChallengeStore };
  authorities: Pick<CertificateAuthorities, "signer" | "hostCaKnownHosts">;
  roles: Pick<RoleCatalog, "find">;
  clock: Clock;
  audit: AuditLog;
  settings?: SpiffeSettings;
  /** Admins' locks: a locked role gets nothing, a locked login is left out. */
  locks: Pick<LockRegistry, "requireUnlocked">;
}

export interface SpiffeRequest {
  /** PEM, leaf first. */
  svid: string;
  sshPublicKey: string;
  /** Empty in the first call. */
  challengeId: string;
  signature: Uint8Array;
  ttlSeconds?: number;
}

export type SpiffeOutcome =
  | { kind: "challenge"; challengeId: string; payload: string; expiresAt: Date }
  | {
      kind: "certificate";
      certificate: string;
      spiffeId: string;
      role: string;
      principals: string[];
      validAfter: Date;
      validBefore: Date;
      /** "@cert-authority * <host CA>" lines for known_hosts. */
      hostCaKnownHosts: string[];
    };

/** What a call established before it was refused, for its audit entry (never the challenge id or signature). */
interface Trail {
  step: "challenge" | "answer";
  svidSha256?: string;
  spiffeId?: string;
  role?: string;
}

/**
 * JoinService/AuthenticateSPIFFE: a workload trades an X.509-SVID for a short-lived OpenSSH user
 * certificate. The first call checks the SVID and returns a single-use challenge bound to the
 * SVID and the SSH key; the second proves the SVID's private key by signing that challenge, and
 * gets a certificate for the role its SPIFFE ID maps to (spiffe_role_map): the role's logins as
 * principals, the SPIFFE ID as key id, the role's extensions. The mapping is only consulted after
 * the proof: an SVID is a public certificate, and holding a copy must tell nothing.
 */
export class SpiffeAuthentication {
  constructor(private readonly d: SpiffeAuthenticationDeps) {}

  async authenticate(req: SpiffeRequest, meta: RequestMeta): Promise<SpiffeOutcome> {
    const settings = this.d.settings;
    if (!settings) {
      throw new DomainError(
        "failed_precondition",
        "SPIFFE_NOT_CONFIGURED",
        "SPIFFE authentication is off on this server (spiffe_trust_bundle_file, spiffe_trust_domain)",
      );
    }
    const trail: Trail = { step: req.challengeId === "" ? "challenge" : "answer" };
    try {
      return trail.step === "challenge" ? await this.challenge(settings, req, trail) : await this.answer(settings, req, trail, meta);
    } catch (err) {
      if (err instanceof DomainError) await this.refused(err, trail, meta);
      throw err;
    }
  }

  private async challenge(settings: SpiffeSettings, req: SpiffeRequest, trail: Trail): Promise<SpiffeOutcome> {
    if (req.signature.length > 0) throw invalidArgument("signature", "is sent with challenge_id, in the second call");
    if (req.ttlSeconds !== undefined && req.ttlSeconds <= 0) throw invalidArgument("ttl", "must be positive");
    const sshKey = parseSshKey(req.sshPublicKey);
    const presented = readSvid(req.svid);
    trail.svidSha256 = presented.digest;
    const now = this.d.clock.now();
    // Checked now too, so a workload learns of a bad SVID before it signs anything.
    const svid = verifySvid(presented, settings.trust, now);
    trail.spiffeId = svid.spiffeId.id;
    const challengeId = randomToken(32);
    const expiresAt = new Date(now.getTime() + SPIFFE_CHALLENGE_TTL_SECONDS * 1000);
    const payload = challengePayload(bindingOf(settings, svid.digest, sshKey), randomToken(32), expiresAt);
    await this.d.store.joinChallenges.create({
      id: sha256Hex(challengeId),
      purpose: SPIFFE_CHALLENGE_PURPOSE,
      payload,
      subject: svid.digest,
      createdAt: now,
      expiresAt,
    });
    return { kind: "challenge", challengeId, payload, expiresAt };
  }

  private async answer(settings: SpiffeSettings, req: SpiffeRequest, trail: Trail, meta: RequestMeta): Promise<SpiffeOutcome> {
    if (req.signature.length === 0) throw invalidArgument("signature", "the SVID key's signature over the challenge payload goes with challenge_id");
    if (req.ttlSeconds !== undefined && req.ttlSeconds <= 0) throw invalidArgument("ttl", "must be positive");
    const sshKey = parseSshKey(req.sshPublicKey);
    const presented = readSvid(req.svid);
    trail.svidSha256 = presented.digest;
    const now = this.d.clock.now();

    // Any answer spends the challenge, right or wrong: one challenge, one try.
    const challenge = await this.d.store.joinChallenges.consume(sha256Hex(req.challengeId), SPIFFE_CHALLENGE_PURPOSE, now);
    if (!challenge) throw challengeInvalid("the challenge is unknown, used or expired");
    if (!constantTimeEqual(challenge.subject, presented.digest)) throw challengeInvalid("the challenge was issued for another SVID");
    if (!payloadBinds(challenge.payload, bindingOf(settings, presented.digest, sshKey))) throw challengeInvalid("the challenge was issued for another SSH key");
    const svid = verifySvid(presented, settings.trust, now);
    trail.spiffeId = svid.spiffeId.id;
    if (!svidSignatureValid(svid.publicKey, Buffer.from(challenge.payload, "utf8"), req.signature)) {
      throw challengeInvalid("the signature does not verify with the SVID's key");
    }

    const roleName = settings.roleMap.roleFor(svid.spiffeId);
    if (!roleName) throw permissionDenied("SPIFFE_ID_NOT_MAPPED", `no spiffe_role_map rule maps ${svid.spiffeId.id}`);
    trail.role = roleName;
    const role = await this.d.roles.find(roleName);
    if (!role) throw permissionDenied("SPIFFE_ID_NOT_MAPPED", `${svid.spiffeId.id} maps to the role "${roleName}", which does not exist`);
    const access = sshAccessOf([role]);
    if (access.logins.length === 0) throw new DomainError("permission_denied", "SSH_LOGINS_REQUIRED", `the role "${roleName}" grants no SSH login`);
    const { logins } = this.d.locks.requireUnlocked({ roles: [roleName], logins: access.logins });

    // The requested ttl, within spiffe_cert_max_ttl and the role's max_session_ttl, and never past the SVID itself.
    const svidLeftSeconds = Math.floor((svid.notAfter.getTime() - now.getTime()) / 1000);
    if (svidLeftSeconds < 1) throw svidInvalid("the SVID expires within a second");
    const max = settings.maxTtlSeconds;
    const ttl = Math.min(req.ttlSeconds ?? max, max, access.maxTtlSeconds ?? max, svidLeftSeconds);
    const { validAfter, validBefore } = certificateValidity(now, ttl);
    const { line, serial, ca } = signUserCertificate(this.d.authorities, {
      publicKey: sshKey,
      keyId: svid.spiffeId.id,
      principals: logins,
      extensions: access.extensions,
      validAfter,
      validBefore,
    });
    await this.d.audit.recordAlone({
      eventType: "spiffe.authenticate",
      outcome: "success",
      actorType: "workload",
      actorId: svid.spiffeId.id,
      targetType: "role",
      targetId: roleName,
      ...whereFrom(meta),
      details: {
        svid_sha256: svid.digest,
        serial: serial.toString(),
        principals: logins.join(","),
        valid_before: validBefore.toISOString(),
        key_type: sshKey.type,
        ssh_key: sshFingerprint(sshKey.blob),
        ca: ca.fingerprint,
      },
    });
    return {
      kind: "certificate",
      certificate: line,
      spiffeId: svid.spiffeId.id,
      role: roleName,
      principals: logins,
      validAfter,
      validBefore,
      hostCaKnownHosts: this.d.authorities.hostCaKnownHosts(),
    };
  }

  private async refused(err: DomainError, trail: Trail, meta: RequestMeta): Promise<void> {
    await this.d.audit.recordAlone({
      eventType: "spiffe.authenticate",
      outcome: "failure",
      actorType: "workload",
      actorId: trail.spiffeId ?? "",
      targetType: trail.role ? "role" : undefined,
      targetId: trail.role,
      ...whereFrom(meta),
      details: {
        reason: err.reason,
        step: trail.step,
        ...(trail.svidSha256 ? { svid_sha256: trail.svidSha256 } : {}),
      },
    });
  }
}

function bindingOf(settings: SpiffeSettings, svidDigest: string, sshKey: SshPublicKey): ChallengeBinding {
  return { clusterName: settings.clusterName, svidDigest, sshKeyFingerprint: sshFingerprint(sshKey.blob) };
}

function challengeInvalid(message: string): DomainError {
  return unauthenticated("SPIFFE_CHALLENGE_INVALID", `challenge_id: ${message}`);
}

function parseSshKey(line: string): SshPublicKey {
  try {
    return parseSshPublicKey(line);
  } catch (err) {
    if (err instanceof SshKeyError) throw invalidArgument("ssh_public_key", err.message);
    throw err;
  }
}
