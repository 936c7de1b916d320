import { ConcurrencyLimit } from "../domain/telemetry/insert-limit.js";
import { TelemetryPartitions } from "../domain/telemetry/partitions.js";
import { TelemetryIngest } from "../domain/telemetry/telemetry-ingest.js";
import { TelemetryQuota } from "../domain/telemetry/telemetry-quota.js";
import { telemetryHandlers } from "../handlers/telemetry.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";

export interface TelemetryArea {
  handlers: Pick<ServiceHandlers, "telemetry">;
  ingest: TelemetryIngest;
  partitions: TelemetryPartitions;
  /** Stops the partition maintenance timer. */
  stop(): void;
}

const TELEMETRY_INSERTS_IN_FLIGHT = 3;

/** Telemetry events: validated, tagged, stored in daily partitions with retention; posture updates devices. */
export function wireTelemetry(core: Core): TelemetryArea {
  const { store, clock, config, bus, log } = core;
  const ingest = new TelemetryIngest({
    store,
    clock,
    quota: new TelemetryQuota(core.limiter, config.telemetry_events_per_org_per_minute),
    bus,
    // Of the pool's connections (10), telemetry holds at most this many at once.
    inserts: new ConcurrencyLimit(TELEMETRY_INSERTS_IN_FLIGHT),
  });
  const partitions = new TelemetryPartitions({ store, clock, retentionDays: config.telemetry_retention_days, log });
  // At start (so events find today's partition) and hourly after.
  partitions.start();
  return {
    handlers: { telemetry: telemetryHandlers(ingest) },
    ingest,
    partitions,
    stop: () => partitions.stop(),
  };
}
