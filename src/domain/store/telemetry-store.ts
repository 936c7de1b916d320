/** One event as stored: the batch's caller tags go on every row. */
export interface NewTelemetryEvent {
  occurredAt: Date;
  deviceId: string | null;
  type: string;
  /** The attributes as JSON text (already size-checked), or null. */
  attributesJson: string | null;
}

/** The newest posture of one device within a batch. */
export interface DevicePostureUpdate {
  deviceId: string;
  at: Date;
  os: string;
  osVersion: string;
  diskEncrypted: boolean;
  screenLock: boolean;
  agentVersion: string;
}

export interface TelemetryBatch {
  organizationId: string;
  userId: string | null;
  serviceAccountId: string | null;
  receivedAt: Date;
  events: NewTelemetryEvent[];
  postures: DevicePostureUpdate[];
}

/** A daily partition of telemetry_events: `telemetry_events_pYYYYMMDD` for [from, to). */
export interface DailyPartition {
  name: string;
  from: Date;
  to: Date;
}

/** Storage port of the telemetry area: events, the posture they carry, and the table's partitions. */
export interface TelemetryStore {
  /**
   * Stores the events and applies the postures in one statement (all or nothing): a device's
   * posture moves only forward in event time. Answers the devices whose posture changed.
   */
  insertBatch(batch: TelemetryBatch): Promise<{ postureChanged: string[] }>;
  /** The live (unrevoked) devices of the organization among `ids`, with their owners. */
  liveDevices(organizationId: string, ids: string[]): Promise<{ id: string; userId: string }[]>;
  /** Events whose occurred_at is in [from, to]. */
  countBetween(from: Date, to: Date): Promise<number>;
  /** Devices that are not revoked (installation-wide). */
  countLiveDevices(): Promise<number>;

  /** Names of the daily partitions that exist. */
  listDailyPartitions(): Promise<string[]>;
  /**
   * Creates the partition unless it exists or the default partition holds rows of its range
   * (PostgreSQL would refuse: "held"); serialized across instances.
   */
  createDailyPartition(p: DailyPartition): Promise<"created" | "exists" | "held">;
  /** Drops a daily partition and every row in it. */
  dropDailyPartition(name: string): Promise<void>;
  /** Deletes default-partition rows older than `before`; how many. */
  deleteDefaultPartitionBefore(before: Date): Promise<number>;
}
