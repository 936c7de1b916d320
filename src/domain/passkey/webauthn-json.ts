import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { z } from "zod";
import { invalidArgument } from "../errors.js";

/** Far above any real response (credential ids are at most 1023 bytes), far below the message limit. */
export const MAX_RESPONSE_JSON_CHARS = 64 * 1024;

const base64url = (maxChars: number) =>
  z
    .string()
    .min(1)
    .max(maxChars)
    .regex(/^[A-Za-z0-9_-]+$/, "must be base64url");

// A credential id is at most 1023 bytes: 1364 base64url characters.
const credentialId = base64url(1364);

const common = {
  id: credentialId,
  rawId: credentialId,
  type: z.literal("public-key"),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
};

const registrationSchema = z.object({
  ...common,
  response: z.object({
    clientDataJSON: base64url(8192),
    attestationObject: base64url(48 * 1024),
    authenticatorData: base64url(16 * 1024).optional(),
    transports: z.array(z.string().max(32)).max(16).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: base64url(8192).optional(),
  }),
});

const authenticationSchema = z.object({
  ...common,
  response: z.object({
    clientDataJSON: base64url(8192),
    authenticatorData: base64url(16 * 1024),
    signature: base64url(2048),
    // Some clients send null rather than leaving it out.
    userHandle: base64url(128)
      .nullish()
      .transform((v) => v ?? undefined),
  }),
});

/**
 * Checks the shape of a browser's WebAuthn JSON before the library sees it: any input that is
 * not JSON, not an object, or has a field of the wrong type or size is INVALID_ARGUMENT here.
 * What the bytes inside mean is the verifier's job.
 */
function parse<T>(schema: z.ZodType, json: string, field: string): T {
  if (json.length === 0) throw invalidArgument(field, "is required");
  if (json.length > MAX_RESPONSE_JSON_CHARS) throw invalidArgument(field, `must be at most ${MAX_RESPONSE_JSON_CHARS} characters`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw invalidArgument(field, "is not valid JSON", "WEBAUTHN_RESPONSE_INVALID");
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const where = result.error.issues.map((i) => i.path.join(".") || "(root)").slice(0, 5);
    throw invalidArgument(field, `is not a WebAuthn credential response (check ${where.join(", ")})`, "WEBAUTHN_RESPONSE_INVALID");
  }
  return result.data as T;
}

export function parseRegistrationResponse(json: string, field = "response_json"): RegistrationResponseJSON {
  return parse<RegistrationResponseJSON>(registrationSchema, json, field);
}

export function parseAuthenticationResponse(json: string, field = "response_json"): AuthenticationResponseJSON {
  return parse<AuthenticationResponseJSON>(authenticationSchema, json, field);
}
