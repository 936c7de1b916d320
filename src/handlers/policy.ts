import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { PolicyLanguage, PolicyOutcome, PolicySchema, PolicyService, type Policy } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { invalidArgument } from "../domain/errors.js";
import type { Policies } from "../domain/policy/policies.js";
import type { PolicyOutcomeKind } from "../domain/policy/policy-decision.js";
import type { PolicyDryRun } from "../domain/policy/policy-dry-run.js";
import type { PolicyDraft, PolicyLanguageKind } from "../domain/policy/policy-rules.js";
import type { AccessPolicyRow } from "../domain/records.js";
import { grantOf, metaOf, principalOf } from "./call-context.js";

const LANGUAGE_TO_PB: Record<PolicyLanguageKind, PolicyLanguage> = { cel: PolicyLanguage.CEL, rego: PolicyLanguage.REGO };
const OUTCOME_TO_PB: Record<PolicyOutcomeKind, PolicyOutcome> = {
  allow: PolicyOutcome.ALLOW,
  deny: PolicyOutcome.DENY,
  require_mfa: PolicyOutcome.REQUIRE_MFA,
};
const PB_TO_LANGUAGE = new Map(Object.entries(LANGUAGE_TO_PB).map(([k, v]) => [v, k as PolicyLanguageKind]));
const PB_TO_OUTCOME = new Map(Object.entries(OUTCOME_TO_PB).map(([k, v]) => [v, k as PolicyOutcomeKind]));

export function policyToProto(row: AccessPolicyRow): Policy {
  return create(PolicySchema, {
    id: row.id,
    organizationId: row.organizationId,
    name: row.name,
    language: LANGUAGE_TO_PB[row.language as PolicyLanguageKind] ?? PolicyLanguage.UNSPECIFIED,
    source: row.source,
    outcome: OUTCOME_TO_PB[row.outcome as PolicyOutcomeKind] ?? PolicyOutcome.UNSPECIFIED,
    message: row.message,
    priority: row.priority,
    enabled: row.enabled,
    createTime: timestampFromDate(row.createdAt),
    updateTime: timestampFromDate(row.updatedAt),
  });
}

/** The request's policy as a draft (protovalidate has required it and chosen its enums). */
function draftOf(p: Policy | undefined): PolicyDraft {
  if (!p) throw invalidArgument("policy", "is required");
  const language = PB_TO_LANGUAGE.get(p.language);
  const outcome = PB_TO_OUTCOME.get(p.outcome);
  if (!language) throw invalidArgument("policy.language", "must be POLICY_LANGUAGE_CEL or POLICY_LANGUAGE_REGO");
  if (!outcome) throw invalidArgument("policy.outcome", "must be allow, deny or require MFA");
  return { name: p.name, language, source: p.source, outcome, message: p.message, priority: p.priority, enabled: p.enabled };
}

/** The call as a policy input's request part sees it. */
function requestOf(ctx: HandlerContext) {
  const meta = metaOf(ctx);
  return { ip: meta.clientIp, userAgent: meta.userAgent, method: `/${ctx.service.typeName}/${ctx.method.name}` };
}

export function policyHandlers(policies: Policies, dryRun: PolicyDryRun): ServiceImpl<typeof PolicyService> {
  return {
    async createPolicy(req, ctx) {
      const row = await policies.create(principalOf(ctx), req.policy?.organizationId ?? "", draftOf(req.policy), metaOf(ctx));
      return { policy: policyToProto(row) };
    },
    async updatePolicy(req, ctx) {
      const row = await policies.update(principalOf(ctx), req.policy?.id ?? "", req.policy?.organizationId ?? "", draftOf(req.policy), metaOf(ctx));
      return { policy: policyToProto(row) };
    },
    async deletePolicy(req, ctx) {
      await policies.delete(principalOf(ctx), req.id, metaOf(ctx));
      return {};
    },
    async listPolicies(req, ctx) {
      const page = await policies.list(grantOf(ctx), req);
      return { policies: page.items.map(policyToProto), nextPageToken: page.nextPageToken };
    },
    async evaluatePolicy(req, ctx) {
      // A Struct field arrives as its JSON object.
      const d = await dryRun.evaluate(principalOf(ctx), grantOf(ctx), req.input, requestOf(ctx));
      return { outcome: OUTCOME_TO_PB[d.outcome], policyId: d.policyId, policyName: d.policyName, message: d.message, reason: d.reason };
    },
  };
}
