import { Redis } from "ioredis";
import type { Config } from "../config.js";
import { TELEMETRY_QUOTA } from "../domain/telemetry/telemetry-quota.js";
import { BruteForce, RATE_CLASSES, type NetworkBudgets, type RateClass } from "../domain/ratelimit/brute-force.js";

const DAY = 86_400;
const HOUR = 3_600;

/** Per-address and per-network budgets of one credential kind: a window, and ten times that a day. */
function networkBudgets(addressPoints: number, subnetPoints: number, window: number): NetworkBudgets {
  return {
    address: [
      { points: addressPoints, durationSeconds: window },
      { points: addressPoints * 10, durationSeconds: DAY },
    ],
    subnet: [
      { points: subnetPoints, durationSeconds: window },
      { points: subnetPoints * 10, durationSeconds: DAY },
    ],
  };
}

/** The engine as configured: Redis when REDIS_URL is set, otherwise this process's memory. */
export function createBruteForce(config: Config): { engine: BruteForce; redis?: Redis } {
  const redis = config.redis_url
    ? new Redis(config.redis_url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, lazyConnect: false })
    : undefined;
  // An unreachable Redis must not crash the process; calls fail closed while it is away.
  redis?.on("error", () => {});
  const window = config.login_failure_window;
  const network = Object.fromEntries(
    RATE_CLASSES.map((c) => {
      const own = config.rate_class_budgets[c];
      return [c, networkBudgets(own?.address ?? config.network_max_failures, own?.subnet ?? config.subnet_max_failures, window)];
    }),
  ) as Record<RateClass, NetworkBudgets>;
  const engine = new BruteForce(
    {
      accountAddress: { points: config.login_max_failures, durationSeconds: window },
      account: { points: config.account_max_failures, durationSeconds: window },
      network,
      quotas: {
        signup: { points: config.signups_per_address_per_hour, durationSeconds: HOUR },
        otp_phone: { points: config.otp_sends_per_phone_per_hour, durationSeconds: HOUR },
        otp_address: { points: config.otp_sends_per_address_per_hour, durationSeconds: HOUR },
        email_recipient: { points: config.verification_emails_per_recipient_per_hour, durationSeconds: HOUR },
        email_address: { points: config.verification_emails_per_address_per_hour, durationSeconds: HOUR },
        passkey_start: { points: config.passkey_starts_per_address_per_hour, durationSeconds: HOUR },
        device_challenge: { points: config.device_challenges_per_address_per_hour, durationSeconds: HOUR },
        // Keyed by organization; a batch takes one point per event (TelemetryQuota).
        [TELEMETRY_QUOTA]: { points: config.telemetry_events_per_org_per_minute, durationSeconds: 60 },
      },
    },
    redis,
  );
  return { engine, redis };
}
