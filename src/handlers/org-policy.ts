import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  OrgPolicyConfigSchema,
  OrgPolicyConfigService,
  UrlAction as PbUrlAction,
  type AccessControlSection,
  type OrgPolicyConfig,
  type UpdateOrgPolicyConfigRequest,
} from "../../gen/warden/orgpolicy/v1/org_policy_config_service_pb.js";
import { PolicyOutcome } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { invalidArgument } from "../domain/errors.js";
import type { OrgPolicyChange } from "../domain/orgpolicy/org-policy-document.js";
import type { OrgPolicyConfigs } from "../domain/orgpolicy/org-policy-configs.js";
import type { OrgPolicySettings } from "../domain/orgpolicy/org-policy-settings.js";
import type { UrlAccess } from "../domain/orgpolicy/url-access.js";
import type { UrlAction } from "../domain/orgpolicy/url-matcher.js";
import type { PolicyOutcomeKind } from "../domain/policy/policy-decision.js";
import { grantOf, metaOf, principalOf } from "./call-context.js";

const OUTCOME_TO_PB: Record<PolicyOutcomeKind, PolicyOutcome> = {
  allow: PolicyOutcome.ALLOW,
  deny: PolicyOutcome.DENY,
  require_mfa: PolicyOutcome.REQUIRE_MFA,
};
const PB_TO_OUTCOME = new Map<PolicyOutcome, PolicyOutcomeKind>(Object.entries(OUTCOME_TO_PB).map(([k, v]) => [v, k as PolicyOutcomeKind]));

/** Unset keeps the stored outcome. */
function outcomeFromProto(o: PolicyOutcome): PolicyOutcomeKind | undefined {
  if (o === PolicyOutcome.UNSPECIFIED) return undefined;
  const kind = PB_TO_OUTCOME.get(o);
  if (!kind) throw invalidArgument("default_policy_outcome", "unknown outcome");
  return kind;
}

const actionToProto = (a: UrlAction): PbUrlAction => (a === "block" ? PbUrlAction.BLOCK : PbUrlAction.ALLOW);

/** Unset allows (the proto's default). */
function actionFromProto(a: PbUrlAction): UrlAction {
  if (a === PbUrlAction.BLOCK) return "block";
  if (a === PbUrlAction.ALLOW || a === PbUrlAction.UNSPECIFIED) return "allow";
  throw invalidArgument("access_control.default_action", "unknown action");
}

export function orgPolicyToProto(s: OrgPolicySettings): OrgPolicyConfig {
  return create(OrgPolicyConfigSchema, {
    organizationId: s.organizationId,
    mfa: { required: s.mfa.required, allowedMethods: [...s.mfa.allowedMethods] },
    device: { ...s.device },
    session: {
      maxAgeSeconds: BigInt(s.session.maxAgeSeconds),
      idleTimeoutSeconds: BigInt(s.session.idleTimeoutSeconds),
      maxConcurrentPerUser: s.session.maxConcurrentPerUser,
    },
    accessControl: { allow: [...s.accessControl.allow], block: [...s.accessControl.block], defaultAction: actionToProto(s.accessControl.defaultAction) },
    defaultPolicyOutcome: OUTCOME_TO_PB[s.defaultPolicyOutcome],
    version: BigInt(s.version),
    updateTime: s.updatedAt ? timestampFromDate(s.updatedAt) : undefined,
  });
}

function accessControlFromProto(a: AccessControlSection): OrgPolicySettings["accessControl"] {
  return { allow: [...a.allow], block: [...a.block], defaultAction: actionFromProto(a.defaultAction) };
}

export function orgPolicyChangeFromProto(req: UpdateOrgPolicyConfigRequest): OrgPolicyChange {
  return {
    mfa: req.mfa && { required: req.mfa.required, allowedMethods: req.mfa.allowedMethods },
    device: req.device && {
      requireRegistered: req.device.requireRegistered,
      requireTrusted: req.device.requireTrusted,
      maxPerUser: req.device.maxPerUser,
      autoTrust: req.device.autoTrust,
    },
    session: req.session && {
      maxAgeSeconds: Number(req.session.maxAgeSeconds),
      idleTimeoutSeconds: Number(req.session.idleTimeoutSeconds),
      maxConcurrentPerUser: req.session.maxConcurrentPerUser,
    },
    accessControl: req.accessControl && accessControlFromProto(req.accessControl),
    defaultPolicyOutcome: outcomeFromProto(req.defaultPolicyOutcome),
    // 0 is proto3's "not set": a config that was never written cannot be expected.
    expectedVersion: req.expectedVersion > 0n ? Number(req.expectedVersion) : undefined,
  };
}

export function orgPolicyHandlers(configs: OrgPolicyConfigs, urls: UrlAccess): ServiceImpl<typeof OrgPolicyConfigService> {
  return {
    async getOrgPolicyConfig(_req, ctx) {
      return { config: orgPolicyToProto(await configs.get(grantOf(ctx).organization.id)) };
    },
    async updateOrgPolicyConfig(req, ctx) {
      return { config: orgPolicyToProto(await configs.update(principalOf(ctx), grantOf(ctx), orgPolicyChangeFromProto(req), metaOf(ctx))) };
    },
    async getBrowserPolicy(_req, ctx) {
      const p = await urls.browserPolicy(grantOf(ctx).organization.id);
      return { organizationId: p.organizationId, version: BigInt(p.version), allow: p.allow, block: p.block, defaultAction: actionToProto(p.defaultAction) };
    },
    async checkUrlAccess(req, ctx) {
      const d = await urls.check(grantOf(ctx).organization.id, req.url);
      return { allowed: d.allowed, matchedRule: d.matchedRule, message: d.message };
    },
  };
}
