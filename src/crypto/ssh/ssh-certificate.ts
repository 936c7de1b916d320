import { timingSafeEqual, type KeyObject } from "node:crypto";
import { publicRandomBytes } from "../random.js";
import { decodeOptionList, encodeOptionList, flagOptions } from "./ssh-certificate-options.js";
import { ED25519, ed25519PublicBlob, ed25519SignatureBlob, verifyEd25519SignatureBlob } from "./ssh-ed25519.js";
import { describingWireErrors, SshKeyError } from "./ssh-key-error.js";
import { authorizedKeysLine, splitKeyLine, sshFingerprint } from "./ssh-key-line.js";
import { isParsedKey, isSshKeyType, parseSshPublicKeyBlob, readPublicKeyFields, type SshKeyType, type SshPublicKey } from "./ssh-public-key.js";
import { SshWireReader, SshWireWriter } from "./ssh-wire.js";

/** OpenSSH certificates as PROTOCOL.certkeys defines them, signed by an Ed25519 CA. */

export type SshCertificateKind = "user" | "host";
export type SshCertificateTypeName = `${SshKeyType}-cert-v01@openssh.com`;

export class SshCertificateError extends SshKeyError {
  override name = "SshCertificateError";
}

export interface CertificateOptions {
  publicKey: SshPublicKey;
  caPrivateKey: KeyObject;
  caPublicKeyBlob: Uint8Array;
  certType: SshCertificateKind;
  keyId: string;
  serial: bigint;
  /** Must not be empty: an empty list would make the certificate good for every user or host. */
  principals: string[];
  validAfter: Date;
  validBefore: Date;
  /** e.g. {"source-address": "10.0.0.0/8"}; an empty value is written as a flag. */
  criticalOptions: Record<string, string>;
  /** e.g. ["permit-pty"]; extensions defined today are all flags. */
  extensions: string[];
  /** Defaults to the public key's comment. */
  comment?: string;
  /** Leave unset for 32 random bytes; a fixed nonce is only for reproducible tests. */
  nonce?: Uint8Array;
}

export interface SshCertificate {
  type: SshCertificateTypeName;
  certType: SshCertificateKind;
  nonce: Uint8Array;
  /** The certified key, as a plain public key (its own blob, type and KeyObject). */
  publicKey: SshPublicKey;
  serial: bigint;
  keyId: string;
  principals: string[];
  validAfter: Date;
  /** "forever" is the all-ones value PROTOCOL.certkeys reserves for no expiry. */
  validBefore: Date | "forever";
  criticalOptions: Record<string, string>;
  extensions: Record<string, string>;
  /** The CA that signed it; the signature has been checked against this key. */
  signatureKey: SshPublicKey;
  signatureKeyFingerprint: string;
  blob: Uint8Array;
  comment?: string;
}

const SUFFIX = "-cert-v01@openssh.com";
const CERT_KIND_CODE: Record<SshCertificateKind, number> = { user: 1, host: 2 };
const NONCE_LENGTH = 32;
const UINT64_MAX = (1n << 64n) - 1n;
/** PROTOCOL.certkeys: a "valid before" of all ones means the certificate never expires. */
const FOREVER = UINT64_MAX;
/** The last second a JavaScript Date can hold. */
const MAX_DATE_SECONDS = 8_640_000_000_000n;

/** A random serial below 2^63, so that tools reading it as a signed 64-bit number see it positive. */
export function randomCertificateSerial(): bigint {
  return publicRandomBytes(8).readBigUInt64BE() & ((1n << 63n) - 1n);
}

export function certificateTypeName(keyType: SshKeyType): SshCertificateTypeName {
  return `${keyType}${SUFFIX}`;
}

/** Builds and signs a certificate; returns the `<type> <base64> [comment]` line and the wire blob. */
export function encodeCertificate(opts: CertificateOptions): { line: string; blob: Uint8Array } {
  // A key assembled by hand is parsed again, so the fields we copy are a sound key of the stated type.
  const key = isParsedKey(opts.publicKey) ? opts.publicKey : parseSshPublicKeyBlob(opts.publicKey.blob);
  if (key.type !== opts.publicKey.type) throw new SshCertificateError(`publicKey.type ${opts.publicKey.type} does not match its blob (${key.type})`);
  checkCa(opts.caPrivateKey, opts.caPublicKeyBlob);
  checkPrincipals(opts.principals);
  const [validAfter, validBefore] = [seconds(opts.validAfter, "validAfter"), seconds(opts.validBefore, "validBefore")];
  if (validBefore <= validAfter) throw new SshCertificateError("validBefore must be later than validAfter");
  if (opts.serial < 0n || opts.serial > UINT64_MAX) throw new SshCertificateError("serial must fit in a uint64");
  const nonce = opts.nonce ?? publicRandomBytes(NONCE_LENGTH);
  if (nonce.length !== NONCE_LENGTH) throw new SshCertificateError(`the nonce must be ${NONCE_LENGTH} bytes`);

  const principals = new SshWireWriter();
  for (const principal of opts.principals) principals.utf8(principal);

  const toBeSigned = new SshWireWriter()
    .utf8(certificateTypeName(key.type))
    .string(nonce)
    .raw(keyFields(key.blob))
    .uint64(opts.serial)
    .uint32(CERT_KIND_CODE[opts.certType])
    .utf8(opts.keyId)
    .string(principals.bytes())
    .uint64(validAfter)
    .uint64(validBefore)
    .string(encodeOptionList("critical options", opts.criticalOptions))
    .string(encodeOptionList("extensions", flagOptions("extensions", opts.extensions)))
    .string(new Uint8Array(0)) // reserved
    .string(opts.caPublicKeyBlob)
    .bytes();
  const blob = new SshWireWriter().raw(toBeSigned).string(ed25519SignatureBlob(opts.caPrivateKey, toBeSigned)).bytes();
  return { line: authorizedKeysLine(blob, opts.comment ?? opts.publicKey.comment), blob };
}

/**
 * Reads a certificate line and checks its signature against the CA key it names. Pass
 * `trustedCa` (the CA's public blob) to also refuse certificates from any other CA; without
 * it, the caller must compare `signatureKey.blob` itself.
 */
export function decodeCertificate(line: string, options: { trustedCa?: Uint8Array } = {}): SshCertificate {
  const { type, blob, comment } = splitKeyLine(line);
  const certificate = decodeCertificateBlob(blob, options);
  if (certificate.type !== type) throw new SshCertificateError(`the line says ${type} but the certificate is ${certificate.type}`);
  return comment ? { ...certificate, comment } : certificate;
}

export function decodeCertificateBlob(blob: Uint8Array, options: { trustedCa?: Uint8Array } = {}): SshCertificate {
  const fields = describingWireErrors("certificate", () => readCertificate(blob));
  const { signatureKey, signedLength, signature } = fields;
  if (signatureKey.type !== ED25519) throw new SshCertificateError(`CA key type ${signatureKey.type} is not supported; only ${ED25519} CAs are verified`);
  const signed = describingWireErrors("certificate signature", () =>
    verifyEd25519SignatureBlob(signatureKey.keyObject, blob.subarray(0, signedLength), signature),
  );
  if (!signed) throw new SshCertificateError("the certificate signature does not verify");
  const signatureKeyFingerprint = sshFingerprint(signatureKey.blob);
  if (options.trustedCa && !sameBytes(options.trustedCa, signatureKey.blob))
    throw new SshCertificateError(`the certificate is signed by ${signatureKeyFingerprint}, which is not the trusted CA`);
  const { signedLength: _, signature: __, ...certificate } = fields;
  return { ...certificate, signatureKeyFingerprint, blob: blob.slice() };
}

type CertificateFields = Omit<SshCertificate, "signatureKeyFingerprint" | "blob" | "comment"> & { signedLength: number; signature: Uint8Array };

function readCertificate(blob: Uint8Array): CertificateFields {
  const reader = new SshWireReader(blob);
  const type = reader.utf8();
  const keyType = type.endsWith(SUFFIX) ? type.slice(0, -SUFFIX.length) : "";
  if (!isSshKeyType(keyType)) throw new SshCertificateError(`${JSON.stringify(type.slice(0, 64))} is not a supported certificate type`);
  const nonce = reader.string();
  const fieldsStart = reader.offset;
  const keyObject = inContext("certified key", () => readPublicKeyFields(keyType, reader));
  const publicKeyBlob = new SshWireWriter().utf8(keyType).raw(blob.subarray(fieldsStart, reader.offset)).bytes();
  const serial = reader.uint64();
  const certType = certKind(reader.uint32());
  const keyId = reader.utf8();
  const principals = readStringList(reader.string());
  const validAfter = toDate(reader.uint64(), "valid after");
  const validBeforeSeconds = reader.uint64();
  const validBefore = validBeforeSeconds === FOREVER ? "forever" : toDate(validBeforeSeconds, "valid before");
  const criticalOptions = decodeOptionList("critical options", reader.string());
  const extensions = decodeOptionList("extensions", reader.string());
  reader.string(); // reserved: PROTOCOL.certkeys says to ignore it
  const signatureKey = inContext("CA key", () => parseSshPublicKeyBlob(reader.string()));
  const signedLength = reader.offset;
  const signature = reader.string();
  reader.end("the certificate");
  return {
    type: type as SshCertificateTypeName,
    certType,
    nonce,
    publicKey: { type: keyType, blob: publicKeyBlob, keyObject },
    serial,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    extensions,
    signatureKey,
    signedLength,
    signature,
  };
}

/** A public key blob without its leading type name: the fields a certificate embeds after the nonce. */
function keyFields(publicKeyBlob: Uint8Array): Uint8Array {
  const reader = new SshWireReader(publicKeyBlob);
  reader.utf8();
  return publicKeyBlob.subarray(reader.offset);
}

/** The public blob of each CA private key seen, so that a CA's pair is not derived again for every certificate. */
const caPublicBlobs = new WeakMap<KeyObject, Uint8Array>();

function checkCa(caPrivateKey: KeyObject, caPublicKeyBlob: Uint8Array): void {
  if (caPrivateKey.type !== "private" || caPrivateKey.asymmetricKeyType !== "ed25519")
    throw new SshCertificateError("the CA key must be an Ed25519 private key");
  let publicBlob = caPublicBlobs.get(caPrivateKey);
  if (!publicBlob) caPublicBlobs.set(caPrivateKey, (publicBlob = ed25519PublicBlob(caPrivateKey)));
  // A mismatched pair would yield certificates that no server can verify.
  if (!sameBytes(publicBlob, caPublicKeyBlob)) throw new SshCertificateError("caPublicKeyBlob is not the public half of caPrivateKey");
}

function checkPrincipals(principals: readonly string[]): void {
  if (principals.length === 0) throw new SshCertificateError("a certificate needs at least one principal; an empty list means any");
  if (principals.some((p) => p === "")) throw new SshCertificateError("a principal cannot be empty");
}

function certKind(code: number): SshCertificateKind {
  if (code === CERT_KIND_CODE.user) return "user";
  if (code === CERT_KIND_CODE.host) return "host";
  throw new SshCertificateError(`unknown certificate type ${code}`);
}

function readStringList(packed: Uint8Array): string[] {
  const reader = new SshWireReader(packed);
  const list: string[] = [];
  while (reader.remaining > 0) list.push(reader.utf8());
  return list;
}

function seconds(date: Date, what: string): bigint {
  const ms = date.getTime();
  if (!Number.isFinite(ms) || ms < 0) throw new SshCertificateError(`${what} must be a valid date after 1970`);
  return BigInt(Math.floor(ms / 1000));
}

function toDate(value: bigint, what: string): Date {
  if (value > MAX_DATE_SECONDS) throw new SshCertificateError(`${what} is beyond any representable date`);
  return new Date(Number(value) * 1000);
}

/** Key errors inside a certificate say which of its two keys they are about. */
function inContext<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof SshKeyError && !(e instanceof SshCertificateError)) throw new SshCertificateError(`${what}: ${e.message}`);
    throw e;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
