import { invalidArgument } from "../errors.js";
import type { PolicyOutcomeKind } from "../policy/policy-decision.js";
import type { OrgPolicyConfigRow } from "../records.js";
import type { OrgPolicyDocument, StoredOrgPolicy } from "../store/org-policy-store.js";
import { defaultOrgPolicySettings, type OrgPolicySettings } from "./org-policy-settings.js";
import { parseUrlRule } from "./url-normalize.js";

/** Rules per list at most (the proto says the same). */
export const MAX_URL_RULES = 5000;
export const MFA_METHODS = ["totp", "phone", "passkey", "recovery_code"] as const;

export const SECTIONS = ["mfa", "device", "session", "access_control", "default_policy_outcome"] as const;
export type SectionName = (typeof SECTIONS)[number];

/** An update: the sections present replace the stored ones, absent ones are kept. */
export interface OrgPolicyChange {
  mfa?: OrgPolicySettings["mfa"];
  device?: OrgPolicySettings["device"];
  session?: OrgPolicySettings["session"];
  accessControl?: OrgPolicySettings["accessControl"];
  defaultPolicyOutcome?: PolicyOutcomeKind;
  /** Apply only if the config is still at this version. */
  expectedVersion?: number;
}

const OUTCOMES = new Set<string>(["allow", "deny", "require_mfa"]);

/** The settings an organization's stored row (or its absence) stands for; unknown or missing JSON fields take defaults. */
export function settingsOf(organizationId: string, stored: StoredOrgPolicy): OrgPolicySettings {
  const d = defaultOrgPolicySettings(organizationId);
  d.mfa.required = stored.requireMfa;
  const row: OrgPolicyConfigRow | undefined = stored.config;
  if (!row) return d;
  const mfa = obj(row.mfa);
  const device = obj(row.device);
  const session = obj(row.session);
  const ac = obj(row.accessControl);
  return {
    organizationId,
    mfa: { required: stored.requireMfa, allowedMethods: strings(mfa.allowedMethods) },
    device: {
      requireRegistered: bool(device.requireRegistered),
      requireTrusted: bool(device.requireTrusted),
      maxPerUser: num(device.maxPerUser),
      autoTrust: bool(device.autoTrust),
    },
    session: {
      maxAgeSeconds: num(session.maxAgeSeconds),
      idleTimeoutSeconds: num(session.idleTimeoutSeconds),
      maxConcurrentPerUser: num(session.maxConcurrentPerUser),
    },
    accessControl: { allow: strings(ac.allow), block: strings(ac.block), defaultAction: ac.defaultAction === "block" ? "block" : "allow" },
    defaultPolicyOutcome: OUTCOMES.has(row.defaultPolicyOutcome) ? (row.defaultPolicyOutcome as PolicyOutcomeKind) : "allow",
    version: row.version,
    updatedAt: row.updatedAt,
  };
}

/** What the config row holds for these settings. */
export function documentOf(s: OrgPolicySettings): OrgPolicyDocument {
  return {
    mfa: { allowedMethods: s.mfa.allowedMethods },
    device: s.device,
    session: s.session,
    accessControl: s.accessControl,
    defaultPolicyOutcome: s.defaultPolicyOutcome,
  };
}

/**
 * Checks a change and puts it in stored form: URL rules normalized (an invalid one fails
 * URL_INVALID naming it) and deduplicated, MFA methods deduplicated. The proto's rules check
 * the same shapes first; these hold for any caller of the domain.
 */
export function normalizeChange(change: OrgPolicyChange): OrgPolicyChange {
  const out: OrgPolicyChange = { ...change };
  if (change.mfa) {
    const bad = change.mfa.allowedMethods.find((m) => !(MFA_METHODS as readonly string[]).includes(m));
    if (bad !== undefined) throw invalidArgument("mfa.allowed_methods", `${JSON.stringify(bad)} is not one of ${MFA_METHODS.join(", ")}`);
    out.mfa = { required: change.mfa.required, allowedMethods: [...new Set(change.mfa.allowedMethods)] };
  }
  if (change.device) {
    inRange("device.max_per_user", change.device.maxPerUser, 1000);
    const { requireRegistered, requireTrusted, maxPerUser, autoTrust } = change.device;
    out.device = { requireRegistered, requireTrusted, maxPerUser, autoTrust };
  }
  if (change.session) {
    inRange("session.max_age_seconds", change.session.maxAgeSeconds, 31_536_000);
    inRange("session.idle_timeout_seconds", change.session.idleTimeoutSeconds, 31_536_000);
    inRange("session.max_concurrent_per_user", change.session.maxConcurrentPerUser, 1000);
    const { maxAgeSeconds, idleTimeoutSeconds, maxConcurrentPerUser } = change.session;
    out.session = { maxAgeSeconds, idleTimeoutSeconds, maxConcurrentPerUser };
  }
  if (change.accessControl) {
    out.accessControl = {
      allow: normalizeRules(change.accessControl.allow, "access_control.allow"),
      block: normalizeRules(change.accessControl.block, "access_control.block"),
      defaultAction: change.accessControl.defaultAction,
    };
  }
  return out;
}

export function normalizeRules(rules: readonly string[], field: string): string[] {
  if (rules.length > MAX_URL_RULES) throw invalidArgument(field, `at most ${MAX_URL_RULES} rules`);
  const seen = new Set<string>();
  rules.forEach((r, i) => seen.add(parseUrlRule(r, `${field}[${i}]`).text));
  return [...seen];
}

/** The sections whose stored value differs between two settings (for the audit event). */
export function changedSections(before: OrgPolicySettings, after: OrgPolicySettings): SectionName[] {
  const pairs: [SectionName, unknown, unknown][] = [
    ["mfa", before.mfa, after.mfa],
    ["device", before.device, after.device],
    ["session", before.session, after.session],
    ["access_control", before.accessControl, after.accessControl],
    ["default_policy_outcome", before.defaultPolicyOutcome, after.defaultPolicyOutcome],
  ];
  return pairs.filter(([, a, b]) => JSON.stringify(a) !== JSON.stringify(b)).map(([name]) => name);
}

function inRange(field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw invalidArgument(field, `must be a whole number from 0 to ${max}`);
}

const obj = (v: unknown): Record<string, unknown> => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const bool = (v: unknown): boolean => v === true;
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
