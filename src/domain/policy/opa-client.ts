/** An OPA decision path: segments of letters, digits and underscores separated by '/'. */
export const REGO_PATH = /^[A-Za-z0-9_]+(\/[A-Za-z0-9_]+)*$/;

/** Asks an OPA server for one boolean decision. */
export interface OpaDecider {
  /**
   * OPA's answer for the path: true or false; undefined when there is none to rely on (no
   * server configured, down, slower than the timeout or the budget, non-200, malformed, or a
   * result that is not a boolean). Never throws.
   */
  decide(path: string, body: string, budgetMs: number): Promise<boolean | undefined>;
}

const MAX_RESPONSE_BYTES = 1 << 20;

/**
 * Rego by delegation: OPA's Data API, POST `<opa_url>/v1/data/<path>` with {"input": ...},
 * bounded by `opa_timeout_ms` and by what is left of the evaluation's budget.
 */
export class OpaClient implements OpaDecider {
  private readonly base: string | undefined;

  constructor(private readonly opts: { url: string | undefined; timeoutMs: number }) {
    this.base = opts.url?.replace(/\/+$/, "");
  }

  async decide(path: string, body: string, budgetMs: number): Promise<boolean | undefined> {
    const timeout = Math.min(this.opts.timeoutMs, Math.floor(budgetMs));
    if (!this.base || !REGO_PATH.test(path) || timeout <= 0) return undefined;
    try {
      const res = await fetch(`${this.base}/v1/data/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body,
        signal: AbortSignal.timeout(timeout),
        redirect: "error",
      });
      if (res.status !== 200 || Number(res.headers.get("content-length") ?? 0) > MAX_RESPONSE_BYTES) {
        await res.body?.cancel().catch(() => {});
        return undefined;
      }
      const text = await res.text();
      if (text.length > MAX_RESPONSE_BYTES) return undefined;
      const result = (JSON.parse(text) as { result?: unknown } | null)?.result;
      return typeof result === "boolean" ? result : undefined;
    } catch {
      return undefined;
    }
  }
}
