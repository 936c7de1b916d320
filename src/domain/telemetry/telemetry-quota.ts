import { DomainError } from "../errors.js";
import type { BruteForce } from "../ratelimit/brute-force.js";

/** The brute-force engine's quota that counts an organization's telemetry events per minute. */
export const TELEMETRY_QUOTA = "telemetry_org";

/** Counts each event of a call against its organization's per-minute budget (every instance shares it with Redis). */
export class TelemetryQuota {
  constructor(
    private readonly limiter: Pick<BruteForce, "takeQuotaPoints">,
    private readonly perMinute: number,
  ) {}

  async take(organizationId: string, events: number): Promise<void> {
    try {
      await this.limiter.takeQuotaPoints(TELEMETRY_QUOTA, organizationId, events);
    } catch (err) {
      if (!(err instanceof DomainError && err.reason === "RATE_LIMITED")) throw err;
      throw new DomainError(
        "resource_exhausted",
        "TELEMETRY_RATE_LIMITED",
        `the organization may send ${this.perMinute} telemetry events a minute; this call's ${events} would pass it`,
        { retryAfterSeconds: err.extra.retryAfterSeconds, metadata: { limit_per_minute: String(this.perMinute) } },
      );
    }
  }
}
