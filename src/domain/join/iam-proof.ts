import { constantTimeEqual } from "../../crypto/random.js";
import { unauthenticated } from "../errors.js";

/** The header the node must sign with the challenge in it. */
export const CHALLENGE_HEADER = "x-warden-challenge";

/** Headers passed on to STS; any other the node sent is dropped. */
const FORWARDED = ["authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "content-type", CHALLENGE_HEADER] as const;

/**
 * What the signature may cover: the forwarded headers, and the two that fetch sets itself (Host
 * from the endpoint URL, Content-Length from the body). A signed header we would not send
 * would make STS refuse the signature, so it is refused here, without a network call.
 */
const SIGNABLE = new Set<string>([...FORWARDED.filter((h) => h !== "authorization"), "host", "content-length"]);

/** SigV4 for sts, any region (regional endpoints sign with their own). */
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([A-Za-z0-9]{16,128})\/(\d{8})\/([a-z0-9-]{1,32})\/sts\/aws4_request,\s*SignedHeaders=([a-z0-9;-]{1,512}),\s*Signature=([0-9a-f]{64})$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const FORM_CONTENT_TYPE = /^application\/x-www-form-urlencoded(\s*;\s*charset=utf-8)?$/i;
/** The one request a proof may be: its parameters, in any order, and nothing else. */
const GET_CALLER_IDENTITY = ["Action=GetCallerIdentity", "Version=2011-06-15"];
/** How far the signing time may be from the server's clock (STS allows the same). */
export const MAX_SIGNING_SKEW_MS = 15 * 60_000;
const MAX_HEADER_VALUE = 4096;

export interface IamProof {
  headers: Record<string, string>;
  body: Uint8Array;
}

/** A proof that passed every local check: what goes to STS as it is. */
export interface StsRequest {
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface ProofExpectations {
  challenge: string;
  /** The configured STS endpoint's host (with its port when not the default). */
  stsHost: string;
  now: Date;
}

/**
 * Checks the node's signed sts:GetCallerIdentity request before anything is sent: SigV4 for
 * sts, signed over Host and the challenge header; the challenge is this conversation's; the Host
 * is our STS endpoint's (the signature is only good there); the signing time is near ours; the
 * body is GetCallerIdentity and nothing else. STS then checks the signature itself.
 */
export function checkIamProof(proof: IamProof, expect: ProofExpectations): StsRequest {
  const headers = lowerCased(proof.headers);
  const auth = AUTHORIZATION.exec(headers.authorization ?? "");
  if (!auth) throw invalidProof("the Authorization header is not a SigV4 (AWS4-HMAC-SHA256) signature for sts");
  const [, , scopeDate, , signedList] = auth as unknown as [string, string, string, string, string];
  const signed = signedList.split(";");
  if (!signed.includes("host") || !signed.includes(CHALLENGE_HEADER)) throw invalidProof(`the signature must cover host and ${CHALLENGE_HEADER}`);
  for (const name of signed) {
    if (!SIGNABLE.has(name)) throw invalidProof(`the signature covers ${name}, which is not passed on to STS`);
    if (headers[name] === undefined) throw invalidProof(`the signed header ${name} is missing`);
  }
  if (!constantTimeEqual(headers[CHALLENGE_HEADER] ?? "", expect.challenge))
    throw invalidProof("the challenge header does not carry this conversation's challenge");
  if (headers.host!.toLowerCase() !== expect.stsHost.toLowerCase())
    throw invalidProof("the request is signed for another host than this server's STS endpoint");
  const signedAt = parseAmzDate(headers["x-amz-date"] ?? "");
  if (!signedAt || headers["x-amz-date"]!.slice(0, 8) !== scopeDate) throw invalidProof("X-Amz-Date is missing, malformed or not the credential scope's date");
  if (Math.abs(signedAt.getTime() - expect.now.getTime()) > MAX_SIGNING_SKEW_MS) throw invalidProof("the request was signed more than 15 minutes from now");
  if (!FORM_CONTENT_TYPE.test(headers["content-type"] ?? "")) throw invalidProof("Content-Type must be application/x-www-form-urlencoded");
  if (headers["content-length"] !== undefined && headers["content-length"] !== String(proof.body.length))
    throw invalidProof("Content-Length is not the body's length");
  if (!isGetCallerIdentity(proof.body)) throw invalidProof("the body must be Action=GetCallerIdentity&Version=2011-06-15 and nothing else");
  const forwarded: Record<string, string> = {};
  for (const name of FORWARDED) if (headers[name] !== undefined) forwarded[name] = headers[name];
  return { headers: forwarded, body: proof.body };
}

/** Header names folded to lower case; two spellings of one name, or a value no HTTP client would send, are refused. */
function lowerCased(raw: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    const lower = name.toLowerCase();
    if (Object.hasOwn(out, lower)) throw invalidProof(`the header ${lower} appears twice`);
    if (value.length > MAX_HEADER_VALUE || !/^[\x20-\x7e]*$/.test(value)) throw invalidProof(`the header ${lower} has a value that cannot be sent`);
    out[lower] = value;
  }
  return out;
}

function parseAmzDate(value: string): Date | undefined {
  const m = AMZ_DATE.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Date.UTC rolls 20240231 over into March: a date that does not round-trip does not exist.
  return date.toISOString().replace(/[-:]|\.\d{3}/g, "") === value ? date : undefined;
}

function isGetCallerIdentity(body: Uint8Array): boolean {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    return false;
  }
  const params = text.split("&").sort();
  return params.length === GET_CALLER_IDENTITY.length && params.every((p, i) => p === GET_CALLER_IDENTITY[i]);
}

function invalidProof(why: string) {
  return unauthenticated("IAM_PROOF_INVALID", `IAM proof refused: ${why}`);
}
