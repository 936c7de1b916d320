import { create, fromJson, toJsonString, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { PolicyInputSchema, type PolicyInput, type PolicyPostureSchema } from "../../../gen/warden/policy/v1/policy_service_pb.js";
import { postureOf } from "../device/posture.js";
import { DomainError } from "../errors.js";
import type { DeviceRow, OrganizationRow, SessionRow, UserRow } from "../records.js";
import { INPUT_LIMITS } from "./cel-cost.js";

/** What one decision is about, as the sign-in paths and EvaluatePolicy know it. */
export interface PolicyInputParts {
  user: Pick<UserRow, "id" | "email">;
  /** System RBAC role names. */
  roles: string[];
  /** The user's role in the organization ("" when not a member). */
  orgRole: string;
  mfaEnrolled: boolean;
  organization: Pick<OrganizationRow, "id" | "tier">;
  /** The device the session is (or will be) bound to, if any. */
  device: DeviceRow | undefined;
  /** device_posture_max_age: an older posture report counts as unknown. */
  postureMaxAgeSeconds: number;
  session: { authMethods: string[]; mfaAt?: Date; createdAt?: Date };
  request: { ip: string; time: Date; userAgent: string; method: string };
  now: Date;
}

/** A session's sign-in method as authentication-method references ("pwd", "fed", "hwk", ...), plus "mfa" after a second factor. */
export function authMethodsOf(authMethod: string, mfaAt: Date | null | undefined): string[] {
  const first = authMethod.startsWith("password") ? "pwd" : authMethod === "oidc" ? "fed" : authMethod === "passkey" ? "hwk" : authMethod;
  return mfaAt && first !== "mfa" ? [first, "mfa"] : [first];
}

/** What policies see of a stored session: its methods, its second factor's time and its start. */
export function sessionFactsOf(s: Pick<SessionRow, "authMethod" | "mfaAt" | "createdAt">): PolicyInputParts["session"] {
  return { authMethods: authMethodsOf(s.authMethod, s.mfaAt), mfaAt: s.mfaAt ?? undefined, createdAt: s.createdAt };
}

const text = (s: string) => s.slice(0, INPUT_LIMITS.maxString);
const texts = (list: string[]) => list.slice(0, INPUT_LIMITS.maxList).map(text);
const secondsSince = (at: Date, now: Date) => BigInt(Math.max(0, Math.floor((now.getTime() - at.getTime()) / 1000)));

/**
 * The typed input every policy sees, a pure function of its parts. Strings and lists are cut
 * to INPUT_LIMITS, the sizes the compile-time cost estimate assumes.
 */
export function buildPolicyInput(parts: PolicyInputParts): PolicyInput {
  const { device, now, session } = parts;
  const live = device && !device.revokedAt ? device : undefined;
  let posture: MessageInitShape<typeof PolicyPostureSchema> = { known: false };
  if (live) {
    const p = postureOf(live, now, parts.postureMaxAgeSeconds);
    if (p.known)
      posture = {
        known: true,
        os: text(p.os),
        osVersion: text(p.osVersion),
        diskEncrypted: p.diskEncrypted,
        screenLock: p.screenLock,
        agentVersion: text(p.agentVersion),
        ageSeconds: BigInt(p.ageSeconds),
      };
  }
  return create(PolicyInputSchema, {
    user: { id: parts.user.id, email: text(parts.user.email), roles: texts(parts.roles), orgRole: parts.orgRole, mfaEnrolled: parts.mfaEnrolled },
    organization: { id: parts.organization.id, tier: parts.organization.tier },
    device: { id: live?.id ?? "", registered: !!live, trusted: !!live?.trusted, posture },
    session: {
      authMethods: texts(session.authMethods),
      mfa: !!session.mfaAt,
      mfaAgeSeconds: session.mfaAt ? secondsSince(session.mfaAt, now) : -1n,
      ageSeconds: session.createdAt ? secondsSince(session.createdAt, now) : 0n,
    },
    request: {
      ip: text(parts.request.ip),
      time: timestampFromDate(parts.request.time),
      userAgent: text(parts.request.userAgent),
      method: text(parts.request.method),
    },
  });
}

/** The first string or list past INPUT_LIMITS, as a path ("user.roles"). */
function oversized(value: unknown, path: string): string | undefined {
  if (typeof value === "string") return value.length > INPUT_LIMITS.maxString ? path : undefined;
  if (Array.isArray(value)) {
    if (value.length > INPUT_LIMITS.maxList) return path;
    for (const item of value) {
      const found = oversized(item, path);
      if (found) return found;
    }
    return undefined;
  }
  if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) {
      if (k === "$typeName") continue;
      const found = oversized(v, path ? `${path}.${k}` : k);
      if (found) return found;
    }
  return undefined;
}

function inputInvalid(message: string): DomainError {
  return new DomainError("invalid_argument", "POLICY_INPUT_INVALID", `input: ${message}`, { violations: [{ field: "input", description: message }] });
}

/** EvaluatePolicy's explicit input: a PolicyInput in its JSON form, read strictly (an unknown field is an error). */
export function policyInputFromJson(json: JsonValue): PolicyInput {
  let input: PolicyInput;
  try {
    input = fromJson(PolicyInputSchema, json);
  } catch (err) {
    throw inputInvalid(err instanceof Error ? err.message : "is not a PolicyInput document");
  }
  const tooLarge = oversized(input, "");
  if (tooLarge) throw inputInvalid(`${tooLarge} is too large (strings up to ${INPUT_LIMITS.maxString} characters, lists up to ${INPUT_LIMITS.maxList} items)`);
  return input;
}

/** The document OPA receives: {"input": <PolicyInput as proto JSON, field names as in CEL, defaults included>}. */
export function opaRequestBody(input: PolicyInput): string {
  return `{"input":${toJsonString(PolicyInputSchema, input, { useProtoFieldName: true, alwaysEmitImplicit: true })}}`;
}
