import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import { notYet } from "./not-yet.js";

export interface TelemetryArea {
  handlers: Pick<ServiceHandlers, "telemetry">;
  /** Stops the partition maintenance timer. */
  stop(): void;
}

/** Telemetry events: validated, tagged, stored in daily partitions with retention; posture updates devices. */
export function wireTelemetry(core: Core): TelemetryArea {
  void core;
  return { handlers: { telemetry: notYet("TelemetryService") }, stop() {} };
}
