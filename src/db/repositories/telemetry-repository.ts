import type { DbOrTx } from "../client.js";
import type { TelemetryStore } from "../../domain/store/telemetry-store.js";

export class TelemetryRepository implements TelemetryStore {
  constructor(private readonly db: DbOrTx) {}
}
