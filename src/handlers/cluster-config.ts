import { durationFromMs, timestampFromDate, type Duration } from "@bufbuild/protobuf/wkt";
import { SessionRecordingMode, type ClusterConfig } from "../../gen/warden/admin/v1/admin_service_pb.js";
import type { ClusterConfigChanges, ClusterSettings, RecordingMode } from "../domain/cluster/cluster-config.js";
import { invalidArgument } from "../domain/errors.js";

const MODE_TO_PB: Record<RecordingMode, SessionRecordingMode> = {
  off: SessionRecordingMode.OFF,
  node: SessionRecordingMode.NODE,
  "node-sync": SessionRecordingMode.NODE_SYNC,
};
const PB_TO_MODE = new Map(Object.entries(MODE_TO_PB).map(([k, v]) => [v, k as RecordingMode]));

export function clusterConfigToProto(s: ClusterSettings) {
  const seconds = (n: number) => durationFromMs(n * 1000);
  return {
    clusterName: s.clusterName,
    sshCertMaxTtl: seconds(s.sshCertMaxTtl),
    sshCertDefaultTtl: seconds(s.sshCertDefaultTtl),
    agentCertTtl: seconds(s.agentCertTtl),
    nodeHeartbeatInterval: seconds(s.nodeHeartbeatInterval),
    nodeOfflineAfter: seconds(s.nodeOfflineAfter),
    sessionRecordingMode: MODE_TO_PB[s.sessionRecordingMode],
    updatedAt: s.updatedAt ? timestampFromDate(s.updatedAt) : undefined,
    updatedBy: s.updatedBy ?? "",
  };
}

const DURATION_FIELDS = ["ssh_cert_max_ttl", "ssh_cert_default_ttl", "agent_cert_ttl", "node_heartbeat_interval", "node_offline_after"] as const;
const DURATION_OF: Record<(typeof DURATION_FIELDS)[number], (c: ClusterConfig) => Duration | undefined> = {
  ssh_cert_max_ttl: (c) => c.sshCertMaxTtl,
  ssh_cert_default_ttl: (c) => c.sshCertDefaultTtl,
  agent_cert_ttl: (c) => c.agentCertTtl,
  node_heartbeat_interval: (c) => c.nodeHeartbeatInterval,
  node_offline_after: (c) => c.nodeOfflineAfter,
};

/** The fields update_mask names, read from config; an unknown path or a missing value is the caller's error. */
export function clusterConfigChanges(config: ClusterConfig, paths: string[]): ClusterConfigChanges {
  const changes: ClusterConfigChanges = {};
  for (const path of paths) {
    if (path === "cluster_name") changes.cluster_name = config.clusterName;
    else if (path === "session_recording_mode") {
      const mode = PB_TO_MODE.get(config.sessionRecordingMode);
      if (!mode) throw invalidArgument("config.session_recording_mode", "name a mode: OFF, NODE or NODE_SYNC");
      changes.session_recording_mode = mode;
    } else if ((DURATION_FIELDS as readonly string[]).includes(path)) {
      const field = path as (typeof DURATION_FIELDS)[number];
      const d = DURATION_OF[field](config);
      if (!d) throw invalidArgument(`config.${field}`, "update_mask names it: give a value");
      if (d.nanos !== 0) throw invalidArgument(`config.${field}`, "must be whole seconds");
      changes[field] = Number(d.seconds);
    } else throw invalidArgument("update_mask", `unknown field ${JSON.stringify(path.slice(0, 64))}`);
  }
  return changes;
}
