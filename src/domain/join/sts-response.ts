import type { AwsIdentity } from "./iam-rules.js";

/**
 * Reading STS's GetCallerIdentity answers, JSON (asked for with Accept: application/json) or the
 * Query protocol's XML, strictly: the response element, one result element, each field once.
 * Anything else is not an identity. No XML library: the shape is fixed and tiny.
 */

const ACCOUNT = /^[0-9]{12}$/;
/** arn:<partition>:iam|sts::<account>:<resource>, printable ASCII, at most 2048 characters (STS's own limit). */
const ARN = /^arn:aws[a-z-]{0,16}:(iam|sts)::([0-9]{12}):[\x21-\x7e]{1,2000}$/;
const USER_ID = /^[\x21-\x7e]{1,256}$/;

/** The identity in a successful answer, or undefined when the answer is not one. */
export function parseCallerIdentity(body: string, contentType: string): AwsIdentity | undefined {
  const fields = /json/i.test(contentType) ? jsonFields(body) : xmlFields(body);
  if (!fields) return undefined;
  const { Account: account, Arn: arn, UserId: userId } = fields;
  if (typeof account !== "string" || typeof arn !== "string" || typeof userId !== "string") return undefined;
  const arnParts = ARN.exec(arn);
  if (!ACCOUNT.test(account) || !arnParts || arnParts[2] !== account || !USER_ID.test(userId)) return undefined;
  return { account, arn, userId };
}

/** The error code of a refusal (SignatureDoesNotMatch, Throttling, ...), "" when none can be read. */
export function parseErrorCode(body: string, contentType: string): string {
  if (/json/i.test(contentType)) {
    const code = (safeJson(body) as { Error?: { Code?: unknown } } | undefined)?.Error?.Code;
    return typeof code === "string" ? code : "";
  }
  return /<Code>([A-Za-z0-9.]{1,64})<\/Code>/.exec(body)?.[1] ?? "";
}

function jsonFields(body: string): Record<string, unknown> | undefined {
  const doc = safeJson(body) as { GetCallerIdentityResponse?: { GetCallerIdentityResult?: unknown } } | undefined;
  const result = doc?.GetCallerIdentityResponse?.GetCallerIdentityResult;
  return result && typeof result === "object" ? (result as Record<string, unknown>) : undefined;
}

const XML_DECLARATION = /^<\?xml[^>]*\?>/;
const XML_RESPONSE = /^<GetCallerIdentityResponse(?:\s+xmlns="[^"<>]*")?\s*>([\s\S]*)<\/GetCallerIdentityResponse>$/;
const XML_RESULT = /<GetCallerIdentityResult>([\s\S]*?)<\/GetCallerIdentityResult>/g;
/** Sticky: each match starts where the last ended, so nothing can hide between the fields. */
const XML_FIELD = /\s*<(Arn|Account|UserId)>([^<]*)<\/\1>\s*/y;

function xmlFields(body: string): Record<string, string> | undefined {
  const response = XML_RESPONSE.exec(body.trim().replace(XML_DECLARATION, "").trim());
  if (!response) return undefined;
  const results = [...response[1]!.matchAll(XML_RESULT)];
  if (results.length !== 1) return undefined;
  const content = results[0]![1]!;
  const fields: Record<string, string> = {};
  // The result holds the three fields, once each, and nothing else.
  XML_FIELD.lastIndex = 0;
  while (XML_FIELD.lastIndex < content.length) {
    const m = XML_FIELD.exec(content);
    if (!m || Object.hasOwn(fields, m[1]!)) return undefined;
    const text = xmlText(m[2]!);
    if (text === undefined) return undefined;
    fields[m[1]!] = text;
  }
  return fields;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Element text with the five predefined entities; any other `&` makes it unreadable. */
function xmlText(raw: string): string | undefined {
  let bad = false;
  const text = raw.trim().replace(/&([a-z]+;)?/g, (whole, name?: string) => {
    const ch = name ? ENTITIES[name.slice(0, -1)] : undefined;
    if (ch === undefined) bad = true;
    return ch ?? whole;
  });
  return bad ? undefined : text;
}

function safeJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
