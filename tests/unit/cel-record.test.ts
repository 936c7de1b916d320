import { create } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  PolicyDeviceSchema,
  PolicyInputSchema,
  PolicyOrganizationSchema,
  PolicyRequestSchema,
  PolicySessionSchema,
  PolicyUserSchema,
  type PolicyInput,
} from "../../gen/warden/policy/v1/policy_service_pb.js";
import { CelCompiler, policyVariables, type PolicyVariables } from "../../src/domain/policy/cel-compiler.js";

/**
 * Policies run over CelRecords (cel-record.ts), not ReflectMessages, for speed. The oracle is
 * @bufbuild/cel's own reading of the messages: every expression must give the same answer (or
 * fail alike) over both, for inputs with fields set, unset and absent.
 */
const compiler = new CelCompiler({ costLimit: 1_000_000 });

/** The same input as ReflectMessages, which @bufbuild/cel reads natively (the oracle). */
function reflected(input: PolicyInput): PolicyVariables {
  const part = <T extends object>(schema: Parameters<typeof reflect>[0], value: T | undefined) => reflect(schema, (value ?? create(schema)) as never);
  return {
    user: part(PolicyUserSchema, input.user),
    organization: part(PolicyOrganizationSchema, input.organization),
    device: part(PolicyDeviceSchema, input.device),
    session: part(PolicySessionSchema, input.session),
    request: part(PolicyRequestSchema, input.request),
  } as unknown as PolicyVariables;
}

const INPUTS: Record<string, PolicyInput> = {
  full: create(PolicyInputSchema, {
    user: { id: "u1", email: "ann@acme.example", roles: ["developer", "ops"], orgRole: "admin", mfaEnrolled: true },
    organization: { id: "o1", tier: "enterprise" },
    device: {
      id: "d1",
      registered: true,
      trusted: true,
      posture: { known: true, os: "linux", osVersion: "6.1", diskEncrypted: true, screenLock: true, agentVersion: "1.2.3", ageSeconds: 30n },
    },
    session: { authMethods: ["pwd", "otp"], mfa: true, mfaAgeSeconds: 600n, ageSeconds: 3600n },
    request: { ip: "2001:db8::7", time: timestampFromDate(new Date("2026-12-01T12:34:56Z")), userAgent: "curl/8", method: "/warden.auth.v1.AuthService/Login" },
  }),
  defaults: create(PolicyInputSchema, {
    user: { id: "u2" },
    organization: {},
    device: {},
    session: { mfaAgeSeconds: -1n },
    request: {},
  }),
  absent: create(PolicyInputSchema, {}),
};

const EXPRESSIONS = [
  `has(user.email)`,
  `has(user.roles)`,
  `has(user.mfa_enrolled)`,
  `has(device.posture)`,
  `has(device.posture.os)`,
  `has(request.time)`,
  `has(session.mfa_age_seconds)`,
  `user.email == ""`,
  `user.email.endsWith("@acme.example")`,
  `"ops" in user.roles`,
  `user.roles.exists(r, r.startsWith("dev"))`,
  `size(user.roles) == 2`,
  `user.org_role == "admin" && user.mfa_enrolled`,
  `organization.tier in ["enterprise", "professional"]`,
  `device.posture.known && device.posture.disk_encrypted`,
  `device.posture.os == "" && device.posture.age_seconds == 0`,
  `session.mfa_age_seconds < 900 && session.mfa_age_seconds >= 0`,
  `session.mfa_age_seconds == -1`,
  `session.age_seconds > 60`,
  `"otp" in session.auth_methods`,
  `request.time > timestamp("2026-01-01T00:00:00Z")`,
  `request.time.getHours() == 12`,
  `ip_in_cidr(request.ip, "2001:db8::/32")`,
  `in_time_window(request.time, "09:00", "17:00", "Europe/Berlin")`,
  `request.method.startsWith("/warden.auth.v1.")`,
  `1 / (size(user.roles) - 2) == 0`,
];

describe("policy input as CelRecords: the same answers as the messages themselves", () => {
  for (const [name, input] of Object.entries(INPUTS))
    it(`input "${name}": ${EXPRESSIONS.length} expressions agree`, () => {
      const fast = policyVariables(input);
      const oracle = reflected(input);
      for (const source of EXPRESSIONS) {
        const condition = compiler.compile(source);
        const got = condition.evaluate(fast);
        const want = condition.evaluate(oracle);
        expect({ source, ok: got.ok, value: got.ok ? got.value : undefined }).toEqual({ source, ok: want.ok, value: want.ok ? want.value : undefined });
      }
    });

  it("reads no key the message does not have", () => {
    const vars = policyVariables(INPUTS.full!) as unknown as Record<string, { get(k: unknown): unknown; has(k: unknown): boolean }>;
    expect(vars.user!.get("favourite_colour")).toBeUndefined();
    expect(vars.user!.has("favourite_colour")).toBe(false);
    expect(vars.user!.get(1n)).toBeUndefined();
  });
});
