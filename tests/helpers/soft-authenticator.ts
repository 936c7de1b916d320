import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";

/**
 * A software WebAuthn authenticator (ES256, attestation "none") that produces the same JSON a
 * browser hands to @simplewebauthn/browser's callers, byte for byte in structure: a CBOR
 * attestationObject with real authenticatorData (RP ID hash, flags, counter, attested credential
 * data with a COSE key) and DER ECDSA signatures over authenticatorData || SHA-256(clientDataJSON).
 */

// ------------------------------------------------------------------------------ CBOR (RFC 8949)

export type CborValue = number | string | Uint8Array | CborValue[] | Map<CborValue, CborValue> | { [key: string]: CborValue };

function cborHead(major: number, n: number): Buffer {
  const m = major << 5;
  if (n < 24) return Buffer.from([m | n]);
  if (n < 0x100) return Buffer.from([m | 24, n]);
  if (n < 0x10000) return Buffer.from([m | 25, n >> 8, n & 0xff]);
  if (n < 0x100000000) {
    const b = Buffer.alloc(5);
    b[0] = m | 26;
    b.writeUInt32BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = m | 27;
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}

/** Integers, byte strings, text, arrays and maps: all that WebAuthn structures need. */
export function cborEncode(value: CborValue): Buffer {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error(`CBOR: only integers are supported, got ${value}`);
    return value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value);
  }
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([cborHead(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([cborHead(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([cborHead(4, value.length), ...value.map(cborEncode)]);
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return Buffer.concat([cborHead(5, entries.length), ...entries.flatMap(([k, v]) => [cborEncode(k), cborEncode(v)])]);
}

// ------------------------------------------------------------------------------ authenticator

export const FLAG_UP = 0x01;
export const FLAG_UV = 0x04;
export const FLAG_BE = 0x08;
export const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

export interface SoftCredential {
  id: Buffer;
  privateKey: KeyObject;
  /** The WebAuthn user handle given at registration (base64url). */
  userHandle: string;
  rpId: string;
  /** The next assertion signs counter + 1 (unless told otherwise). */
  counter: number;
}

/** Anything a test may falsify in one ceremony. */
export interface CeremonyOverrides {
  origin?: string;
  /** The RP ID whose hash goes into authenticatorData. */
  rpId?: string;
  /** The challenge put in clientDataJSON (default: the one from the options). */
  challenge?: string;
  type?: string;
  flags?: number;
  /** The exact counter to sign; the credential's counter is set to it. */
  counter?: number;
  /** Sign with another key than the credential's (a forgery). */
  signWith?: KeyObject;
  /** Which credential to use (default: the first one allowed by the options). */
  credentialId?: string;
  userHandle?: string | null;
  /** Registration only: present an existing credential again instead of making a new one. */
  reuse?: SoftCredential;
}

export interface SoftAuthenticatorOptions {
  origin?: string;
  /** Authenticators without a signature counter always report 0. */
  counterless?: boolean;
  /** Backup-eligible and backed-up flags (a synced "multiDevice" passkey). */
  backedUp?: boolean;
}

const b64u = (b: Uint8Array | string) => Buffer.from(b).toString("base64url");
const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest();

export class SoftAuthenticator {
  readonly origin: string;
  readonly credentials: SoftCredential[] = [];

  constructor(private readonly opts: SoftAuthenticatorOptions = {}) {
    this.origin = opts.origin ?? "http://localhost:8080";
  }

  private get defaultFlags(): number {
    return FLAG_UP | FLAG_UV | (this.opts.backedUp ? FLAG_BE | FLAG_BS : 0);
  }

  /** navigator.credentials.create(): RegistrationResponseJSON as a string. */
  register(optionsJson: string, o: CeremonyOverrides = {}): string {
    const options = JSON.parse(optionsJson) as { challenge: string; rp: { id: string }; user: { id: string } };
    const privateKey = o.reuse?.privateKey ?? generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const credential: SoftCredential = o.reuse ?? { id: randomBytes(32), privateKey, userHandle: options.user.id, rpId: options.rp.id, counter: 0 };
    const jwk = createPublicKey(privateKey).export({ format: "jwk" });
    const coseKey = new Map<CborValue, CborValue>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x!, "base64url")],
      [-3, Buffer.from(jwk.y!, "base64url")],
    ]);
    const counter = this.nextCounter(credential, o, false);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credential.id.length);
    const authData = Buffer.concat([
      this.authDataHead(o.rpId ?? options.rp.id, (o.flags ?? this.defaultFlags) | FLAG_AT, counter),
      Buffer.alloc(16),
      idLength,
      credential.id,
      cborEncode(coseKey),
    ]);
    const clientDataJSON = this.clientData(o.type ?? "webauthn.create", o.challenge ?? options.challenge, o);
    if (!o.reuse) this.credentials.push(credential);
    return credentialJson(credential, clientDataJSON, {
      attestationObject: b64u(cborEncode({ fmt: "none", attStmt: {}, authData })),
      transports: ["internal"],
    });
  }

  /** navigator.credentials.get(): AuthenticationResponseJSON as a string. */
  assert(optionsJson: string, o: CeremonyOverrides = {}): string {
    const options = JSON.parse(optionsJson) as { challenge: string; rpId?: string; allowCredentials?: { id: string }[] };
    const credential = this.pick(options.allowCredentials, o.credentialId);
    const counter = this.nextCounter(credential, o, true);
    const authData = this.authDataHead(o.rpId ?? options.rpId ?? credential.rpId, o.flags ?? this.defaultFlags, counter);
    const clientDataJSON = this.clientData(o.type ?? "webauthn.get", o.challenge ?? options.challenge, o);
    const signature = sign("sha256", Buffer.concat([authData, sha256(clientDataJSON)]), o.signWith ?? credential.privateKey);
    const userHandle = o.userHandle === undefined ? credential.userHandle : o.userHandle;
    return credentialJson(credential, clientDataJSON, {
      authenticatorData: b64u(authData),
      signature: b64u(signature),
      ...(userHandle === null ? {} : { userHandle }),
    });
  }

  private pick(allowed: { id: string }[] | undefined, wanted?: string): SoftCredential {
    const ids = wanted ? [wanted] : allowed?.length ? allowed.map((a) => a.id) : this.credentials.map((c) => b64u(c.id));
    const credential = this.credentials.find((c) => ids.includes(b64u(c.id)));
    if (!credential) throw new Error("soft authenticator: no matching credential");
    return credential;
  }

  private nextCounter(credential: SoftCredential, o: CeremonyOverrides, increment: boolean): number {
    if (o.counter !== undefined) credential.counter = o.counter;
    else if (this.opts.counterless) credential.counter = 0;
    else if (increment) credential.counter += 1;
    return credential.counter;
  }

  private authDataHead(rpId: string, flags: number, counter: number): Buffer {
    const tail = Buffer.alloc(5);
    tail[0] = flags;
    tail.writeUInt32BE(counter, 1);
    return Buffer.concat([sha256(rpId), tail]);
  }

  private clientData(type: string, challenge: string, o: CeremonyOverrides): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin: o.origin ?? this.origin, crossOrigin: false }), "utf8");
  }
}

/** The PublicKeyCredential JSON a browser serializes (RegistrationResponseJSON / AuthenticationResponseJSON). */
function credentialJson(credential: SoftCredential, clientDataJSON: Buffer, response: Record<string, unknown>): string {
  const id = b64u(credential.id);
  return JSON.stringify({
    id,
    rawId: id,
    type: "public-key",
    authenticatorAttachment: "platform",
    clientExtensionResults: {},
    response: { clientDataJSON: b64u(clientDataJSON), ...response },
  });
}

/** A P-256 key that belongs to no credential, for forged signatures. */
export function strayKey(): KeyObject {
  return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
}
