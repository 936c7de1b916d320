import type { PolicyInput } from "../../../gen/warden/policy/v1/policy_service_pb.js";
import type { BoundedCache } from "../cache/bounded-cache.js";
import type { Caches } from "../cache/caches.js";
import { DomainError } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import type { AccessPolicyRow } from "../records.js";
import type { PolicyStore } from "../store/policy-store.js";
import { policyVariables, type CelCompiler, type CompiledCondition, type PolicyVariables } from "./cel-compiler.js";
import { byPriority, decide, deniesBy, type Evaluated, type PolicyHead, type Verdict } from "./decide.js";
import { REGO_PATH, type OpaDecider } from "./opa-client.js";
import type { PolicyDecision, PolicyEvaluator, PolicyOutcomeKind } from "./policy-decision.js";
import { opaRequestBody } from "./policy-input.js";
import { MAX_POLICIES_PER_ORGANIZATION } from "./policy-rules.js";

/** One enabled policy, ready to run: a compiled CEL condition, an OPA path, or why it cannot run. */
interface Loaded {
  head: PolicyHead;
  condition?: CompiledCondition;
  regoPath?: string;
  broken?: string;
}

export interface PolicyEngineDeps {
  store: { policies: Pick<PolicyStore, "listEnabled"> };
  caches: Caches;
  bus: InvalidationBus;
  compiler: CelCompiler;
  opa: OpaDecider;
  /** policy_eval_timeout_ms: the wall time one organization's whole evaluation may take. */
  evalTimeoutMs: number;
  /** Monotonic milliseconds; the budget is wall time, not the injected clock's. */
  timer?: () => number;
}

const TIME_LIMIT = "evaluation time limit exceeded (policy_eval_timeout_ms)";

/**
 * Evaluates an organization's enabled policies. Compiled programs are cached per organization
 * and dropped on every instance when a policy changes (topic "policy", id = organization).
 * CEL runs first, in priority order, stopping at the first policy that denies (nothing below it
 * can change the decision); then the Rego policies above that point ask OPA, concurrently. The
 * whole evaluation has a wall-time budget: CEL is synchronous, so it is checked between
 * policies, and each OPA call gets at most what is left. Failures deny (fail closed).
 */
export class PolicyEngine implements PolicyEvaluator {
  private readonly cache: BoundedCache<string, Loaded[]>;
  private readonly timer: () => number;

  constructor(private readonly d: PolicyEngineDeps) {
    this.cache = d.caches.create("policies");
    this.timer = d.timer ?? (() => performance.now());
    d.bus.on("policy", (organizationId) => {
      this.cache.delete(organizationId);
    });
  }

  async evaluate(organizationId: string, input: PolicyInput, defaultOutcome: PolicyOutcomeKind): Promise<PolicyDecision> {
    const policies = await this.policiesOf(organizationId);
    if (policies.length === 0) return decide([], defaultOutcome);
    const deadline = this.timer() + this.d.evalTimeoutMs;
    const verdicts: (Verdict | undefined)[] = new Array(policies.length);
    let end = policies.length;
    let vars: PolicyVariables | undefined;
    for (let i = 0; i < policies.length; i++) {
      const p = policies[i]!;
      if (p.regoPath !== undefined) continue;
      const verdict: Verdict = this.timer() > deadline ? { kind: "error", error: TIME_LIMIT } : runCel(p, (vars ??= policyVariables(input)));
      verdicts[i] = verdict;
      if (deniesBy({ policy: p.head, verdict })) {
        end = i + 1;
        break;
      }
    }
    const rego = policies.map((p, i) => ({ p, i })).filter(({ p, i }) => i < end && p.regoPath !== undefined);
    if (rego.length) {
      const body = opaRequestBody(input);
      const answers = await Promise.all(rego.map(({ p }) => this.d.opa.decide(p.regoPath!, body, deadline - this.timer())));
      rego.forEach(({ i }, n) => {
        const a = answers[n];
        verdicts[i] = a === undefined ? { kind: "opa_unavailable" } : { kind: a ? "true" : "false" };
      });
    }
    const evaluated: Evaluated[] = policies.map((p, i) => ({ policy: p.head, verdict: verdicts[i] ?? { kind: "skipped" } }));
    return decide(evaluated, defaultOutcome);
  }

  /** The organization's enabled policies, compiled, in evaluation order (cached; one load per organization at a time). */
  private policiesOf(organizationId: string): Promise<Loaded[]> {
    return this.cache.getOrLoad(organizationId, () => this.load(organizationId));
  }

  private async load(organizationId: string): Promise<Loaded[]> {
    const rows = await this.d.store.policies.listEnabled(organizationId, MAX_POLICIES_PER_ORGANIZATION);
    // Sorted here, not only by the query: the database's collation may order names otherwise.
    return rows.map((row) => this.prepare(row)).sort((a, b) => byPriority(a.head, b.head));
  }

  /** A stored policy that no longer compiles (a lower cost limit, say) is kept, and denies. */
  private prepare(row: AccessPolicyRow): Loaded {
    const head: PolicyHead = {
      id: row.id,
      name: row.name,
      outcome: row.outcome as PolicyOutcomeKind,
      message: row.message,
      priority: row.priority,
      enabled: row.enabled,
    };
    if (row.language === "rego") return REGO_PATH.test(row.source) ? { head, regoPath: row.source } : { head, broken: "not an OPA decision path" };
    if (row.language !== "cel") return { head, broken: `unknown language ${row.language}` };
    try {
      return { head, condition: this.d.compiler.compile(row.source) };
    } catch (err) {
      return { head, broken: `does not compile: ${err instanceof DomainError ? err.message : "unexpected error"}` };
    }
  }
}

function runCel(p: Loaded, vars: PolicyVariables): Verdict {
  if (p.broken || !p.condition) return { kind: "error", error: p.broken ?? "no condition" };
  const r = p.condition.evaluate(vars);
  if (!r.ok) return { kind: "error", error: r.error };
  return { kind: r.value ? "true" : "false" };
}
