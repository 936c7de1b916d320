import type { Clock } from "../../clock.js";
import type { AuditLog } from "../audit/audit-log.js";
import { auditActor } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import { principalLabel, type Principal } from "../principal.js";
import type { ClusterConfigStore } from "../store/cluster-config-store.js";
import type { Ports } from "../store/transactional.js";
import type { AuditTarget } from "../audit/audit-log.js";

export const RECORDING_MODES = ["off", "node", "node-sync"] as const;
export type RecordingMode = (typeof RECORDING_MODES)[number];

/** The SSH platform's cluster-wide settings in force, durations in seconds. */
export interface ClusterSettings {
  clusterName: string;
  sshCertMaxTtl: number;
  /** Already capped by sshCertMaxTtl. */
  sshCertDefaultTtl: number;
  agentCertTtl: number;
  nodeHeartbeatInterval: number;
  nodeOfflineAfter: number;
  sessionRecordingMode: RecordingMode;
  updatedAt?: Date;
  updatedBy?: string;
}

/** The fields UpdateClusterConfig may set, by their setting names (the names stored in overrides). */
export interface ClusterConfigChanges {
  cluster_name?: string;
  ssh_cert_max_ttl?: number;
  ssh_cert_default_ttl?: number;
  agent_cert_ttl?: number;
  node_heartbeat_interval?: number;
  node_offline_after?: number;
  session_recording_mode?: RecordingMode;
}
type Durations = Omit<ClusterConfigChanges, "cluster_name" | "session_recording_mode">;

/** Accepted ranges of the durations, in seconds. */
const RANGES: Record<keyof Durations, [number, number]> = {
  ssh_cert_max_ttl: [60, 30 * 86400],
  ssh_cert_default_ttl: [60, 30 * 86400],
  agent_cert_ttl: [3600, 365 * 86400],
  node_heartbeat_interval: [5, 600],
  node_offline_after: [10, 7 * 86400],
};

export interface ClusterConfigsDeps {
  store: Ports<{ clusterConfig: ClusterConfigStore } & AuditTarget>;
  clock: Clock;
  audit: AuditLog;
  bus: InvalidationBus;
  /** The settings file's values: what applies where UpdateClusterConfig set nothing. */
  defaults: Required<ClusterConfigChanges>;
}

/**
 * GetClusterConfig / UpdateClusterConfig, and the settings every instance applies: the settings
 * file's values with the stored changes on top, held in memory (read on every certificate and
 * heartbeat) and reloaded on every instance when one changes them (bus topic "cluster_config").
 * The cluster name is in every certificate and SPIFFE ID already issued, so it never changes here.
 */
export class ClusterConfigs {
  private overrides: ClusterConfigChanges = {};
  private stamp: { updatedAt: Date; updatedBy: string } | undefined;

  constructor(private readonly d: ClusterConfigsDeps) {}

  /** Loads the stored changes and follows later ones. */
  async start(): Promise<void> {
    await this.reload();
    this.d.bus.on("cluster_config", () => {
      // A failed reload keeps the last values: the next change or restart tries again.
      this.reload().catch(() => {});
    });
  }

  settings(): ClusterSettings {
    const v = { ...this.d.defaults, ...this.overrides };
    return {
      clusterName: this.d.defaults.cluster_name,
      sshCertMaxTtl: v.ssh_cert_max_ttl,
      sshCertDefaultTtl: Math.min(v.ssh_cert_default_ttl, v.ssh_cert_max_ttl),
      agentCertTtl: v.agent_cert_ttl,
      nodeHeartbeatInterval: v.node_heartbeat_interval,
      nodeOfflineAfter: v.node_offline_after,
      sessionRecordingMode: v.session_recording_mode,
      ...this.stamp,
    };
  }

  async update(caller: Principal, changes: ClusterConfigChanges, meta: RequestMeta): Promise<ClusterSettings> {
    const fields = Object.keys(changes) as (keyof ClusterConfigChanges)[];
    if (fields.length === 0) throw invalidArgument("update_mask", "name at least one field to change");
    if (changes.cluster_name !== undefined && changes.cluster_name !== this.d.defaults.cluster_name)
      throw new DomainError(
        "failed_precondition",
        "CLUSTER_NAME_FIXED",
        "the cluster name is in every certificate and SPIFFE ID already issued; set cluster_name in the settings before the first start",
      );
    for (const [field, [min, max]] of Object.entries(RANGES) as [keyof Durations, [number, number]][]) {
      const value = changes[field];
      if (value !== undefined && !(Number.isInteger(value) && value >= min && value <= max))
        throw invalidArgument(field, `must be whole seconds from ${min} to ${max}`);
    }
    if (changes.session_recording_mode !== undefined && !RECORDING_MODES.includes(changes.session_recording_mode))
      throw invalidArgument("session_recording_mode", `must be one of ${RECORDING_MODES.join(", ")}`);

    const now = this.d.clock.now();
    const by = principalLabel(caller).actorId;
    const { cluster_name: _fixed, ...stored } = changes;
    await this.d.store.transaction(async (tx) => {
      await tx.clusterConfig.lockForUpdate();
      const current = (await tx.clusterConfig.get())?.overrides ?? {};
      const merged = { ...current, ...stored } as ClusterConfigChanges;
      checkCoherent({ ...this.d.defaults, ...merged }, changes);
      await tx.clusterConfig.put({ id: 1, overrides: merged as Record<string, number | string>, updatedAt: now, updatedBy: by });
      await this.d.audit.record(tx, {
        eventType: "cluster_config.update",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "cluster",
        targetId: this.d.defaults.cluster_name,
        details: Object.fromEntries(fields.map((f) => [f, String(changes[f])])),
      });
    });
    await this.d.bus.publish([{ topic: "cluster_config", id: "1" }]);
    await this.reload();
    return this.settings();
  }

  private async reload(): Promise<void> {
    const row = await this.d.store.clusterConfig.get();
    this.overrides = (row?.overrides ?? {}) as ClusterConfigChanges;
    this.stamp = row ? { updatedAt: row.updatedAt, updatedBy: row.updatedBy } : undefined;
  }
}

/**
 * Rules between fields, checked on the values that would be in force. A lower cap under the
 * default is fine (the default is capped, see settings()); a default asked above the cap is not.
 */
function checkCoherent(v: Required<ClusterConfigChanges>, changes: ClusterConfigChanges): void {
  if (changes.ssh_cert_default_ttl !== undefined && v.ssh_cert_default_ttl > v.ssh_cert_max_ttl)
    throw invalidArgument("ssh_cert_default_ttl", "must not exceed ssh_cert_max_ttl");
  if (v.node_offline_after < 2 * v.node_heartbeat_interval)
    throw invalidArgument("node_offline_after", "must be at least twice node_heartbeat_interval, or nodes that heartbeat on time would show offline");
}
