import { DomainError, unauthenticated } from "../errors.js";
import type { StsRequest } from "./iam-proof.js";
import type { AwsIdentity } from "./iam-rules.js";
import { parseCallerIdentity, parseErrorCode } from "./sts-response.js";

/** Asks STS who signed a request. */
export interface StsIdentityVerifier {
  /**
   * The identity STS returns for the signed request. IAM_PROOF_INVALID when STS refuses it (bad
   * signature, unknown or expired key); STS_UNAVAILABLE when STS cannot be asked or answers
   * anything else (fail closed).
   */
  callerIdentity(request: StsRequest, signal?: AbortSignal): Promise<AwsIdentity>;
}

/** More than any GetCallerIdentity answer needs. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Refusals that say STS is busy, not that the signature is bad. */
const BUSY_CODES = new Set(["Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable", "InternalFailure"]);

/**
 * Sends the node's signed request to the configured endpoint, never to one the node names, and
 * reads the identity. Redirects are not followed: the signed request goes to STS or nowhere.
 */
export class StsClient implements StsIdentityVerifier {
  readonly host: string;
  private readonly url: string;

  constructor(private readonly opts: { endpoint: string; timeoutMs: number }) {
    const url = new URL(opts.endpoint);
    this.url = url.href;
    // What fetch sends as Host, and so what the node must have signed.
    this.host = url.host;
  }

  async callerIdentity(request: StsRequest, signal?: AbortSignal): Promise<AwsIdentity> {
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    let res: Response;
    let body: string;
    try {
      res = await fetch(this.url, {
        method: "POST",
        headers: { ...request.headers, accept: "application/json" },
        // A copy on an ArrayBuffer of its own, as fetch's body type wants.
        body: new Uint8Array(request.body),
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
        redirect: "manual",
      });
      body = await readLimited(res);
    } catch {
      if (signal?.aborted) throw new DomainError("canceled", "CANCELED", "the call ended before STS answered");
      throw stsUnavailable(timeout.aborted ? "STS did not answer in time" : "STS cannot be reached, or its answer cannot be read");
    }
    const contentType = res.headers.get("content-type") ?? "";
    if (res.status === 200) {
      const identity = parseCallerIdentity(body, contentType);
      if (!identity) throw stsUnavailable("STS answered with something other than a caller identity");
      return identity;
    }
    if (res.status >= 400 && res.status < 500 && res.status !== 429) {
      const code = parseErrorCode(body, contentType);
      if (!BUSY_CODES.has(code)) throw unauthenticated("IAM_PROOF_INVALID", `STS refused the signed request${code ? ` (${code})` : ""}`);
    }
    throw stsUnavailable(`STS answered HTTP ${res.status}`);
  }
}

async function readLimited(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel().catch(() => {});
      throw new Error("the answer is too large");
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function stsUnavailable(message: string) {
  return new DomainError("unavailable", "STS_UNAVAILABLE", message);
}
