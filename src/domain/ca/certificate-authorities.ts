import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from "node:crypto";
import type { Clock } from "../../clock.js";
import type { SecretBox } from "../../crypto/master-key.js";
import { ed25519PublicKeyLine } from "../../crypto/ssh/ssh-public-key.js";
import type { CertificateAuthorityRow } from "../records.js";
import type { InvalidationBus } from "../invalidation.js";
import type { CertificateAuthorityStore, RotationPhase } from "../store/certificate-authority-store.js";

export type AuthorityKind = "user" | "host";

/** One CA, ready to sign: its OpenSSH public key line, wire blob and fingerprint, and the opened private key. */
export interface SshAuthority {
  id: string;
  kind: AuthorityKind;
  publicKeyLine: string;
  blob: Uint8Array;
  fingerprint: string;
  privateKey: KeyObject;
  createdAt: Date;
  /** Set while this CA is the new one of a rotation (CaRotation). */
  rotationPhase?: RotationPhase;
}

export interface CertificateAuthoritiesDeps {
  store: { certificateAuthorities: CertificateAuthorityStore };
  box: SecretBox;
  clock: Clock;
  /** Topic "ca": a rotation on any instance makes every instance read the CAs again. */
  bus: InvalidationBus;
}

const COMMENT: Record<AuthorityKind, string> = { user: "warden-user-ca", host: "warden-host-ca" };

/**
 * The cluster's SSH CAs: a user CA and a host CA (Ed25519), made on first start and kept in the
 * database with their private halves sealed by the master key. Instances sharing a database
 * share the CAs: the first to start creates each one, the others read it.
 */
export class CertificateAuthorities {
  private authorities: SshAuthority[] = [];

  constructor(private readonly d: CertificateAuthoritiesDeps) {
    d.bus.on("ca", () => void this.load().catch(() => undefined));
  }

  async init(): Promise<void> {
    await this.load();
    for (const kind of ["user", "host"] as const) {
      if (this.authorities.some((a) => a.kind === kind && !a.rotationPhase)) continue;
      // Another instance may create it at the same moment: the database keeps one (unique index), and both read that one.
      await this.create(kind);
    }
    await this.load();
  }

  /** A new CA of this kind (settled, or the new one of a rotation); false when one exists in that state. */
  async create(kind: AuthorityKind, rotationPhase?: RotationPhase): Promise<boolean> {
    const { privateKey } = generateKeyPairSync("ed25519");
    const { line } = ed25519PublicKeyLine(createPublicKey(privateKey), COMMENT[kind]);
    return this.d.store.certificateAuthorities.createIfNone({
      id: randomUUID(),
      kind,
      publicKey: line,
      privateKeyEncrypted: this.d.box.seal(privateKey.export({ format: "pem", type: "pkcs8" }).toString()),
      createdAt: this.d.clock.now(),
      rotationPhase: rotationPhase ?? null,
    });
  }

  /** Every trusted CA, oldest first. */
  trusted(kind?: AuthorityKind): SshAuthority[] {
    return kind ? this.authorities.filter((a) => a.kind === kind) : [...this.authorities];
  }

  /** `cert-authority <key>` lines (authorized_keys) for the trusted user CAs. */
  userCaAuthorizedKeys(): string[] {
    return this.trusted("user").map((a) => `cert-authority ${a.publicKeyLine}`);
  }

  /** `@cert-authority * <key>` lines (known_hosts) for the trusted host CAs. */
  hostCaKnownHosts(): string[] {
    return this.trusted("host").map((a) => `@cert-authority * ${a.publicKeyLine}`);
  }

  /**
   * The CA that signs certificates of this kind: the settled one, or from update_clients on the
   * new one of a rotation (by then everyone was told to trust it, in init).
   */
  signer(kind: AuthorityKind): SshAuthority {
    const mine = this.trusted(kind);
    const next = mine.find((a) => a.rotationPhase === "update_clients" || a.rotationPhase === "update_servers");
    const signer = next ?? mine.find((a) => !a.rotationPhase);
    if (!signer) throw new Error(`no ${kind} CA: CertificateAuthorities.init() has not run`);
    return signer;
  }

  async load(): Promise<void> {
    const rows = await this.d.store.certificateAuthorities.trusted();
    this.authorities = rows.map((row) => this.open(row));
  }

  private open(row: CertificateAuthorityRow): SshAuthority {
    const privateKey = createPrivateKey(this.d.box.open(row.privateKeyEncrypted));
    const { line, blob, fingerprint } = ed25519PublicKeyLine(createPublicKey(privateKey), COMMENT[row.kind as AuthorityKind]);
    // The stored public key must be the private key's: a row edited by hand is refused, not trusted.
    if (line.split(" ").slice(0, 2).join(" ") !== row.publicKey.split(" ").slice(0, 2).join(" "))
      throw new Error(`certificate authority ${row.id}: the stored public key is not the sealed private key's`);
    return {
      id: row.id,
      kind: row.kind as AuthorityKind,
      publicKeyLine: line,
      blob,
      fingerprint,
      privateKey,
      createdAt: row.createdAt,
      rotationPhase: (row.rotationPhase as RotationPhase | null) ?? undefined,
    };
  }
}
