import type { ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AdminService } from "../../gen/warden/admin/v1/admin_service_pb.js";
import type { SystemAdmin } from "../domain/admin/system-admin.js";
import { VERSION } from "../version.js";
import { metaOf, principalOf } from "./call-context.js";
import type { ClusterConfigs } from "../domain/cluster/cluster-config.js";
import { clusterConfigChanges, clusterConfigToProto } from "./cluster-config.js";

export function adminHandlers(admin: SystemAdmin, cluster: Pick<ClusterConfigs, "settings" | "update">): ServiceImpl<typeof AdminService> {
  return {
    getClusterConfig() {
      return { config: clusterConfigToProto(cluster.settings()) };
    },
    async updateClusterConfig(req, ctx) {
      const changes = clusterConfigChanges(req.config!, req.updateMask?.paths ?? []);
      return { config: clusterConfigToProto(await cluster.update(principalOf(ctx), changes, metaOf(ctx))) };
    },
    async getSystemStats() {
      const s = await admin.stats();
      return {
        usersTotal: BigInt(s.usersTotal),
        usersDisabled: BigInt(s.usersDisabled),
        sessionsActive: BigInt(s.sessionsActive),
        auditEventsTotal: BigInt(s.auditEventsTotal),
        devicesTotal: BigInt(s.devicesTotal),
        telemetryEventsLastHour: BigInt(s.telemetryEventsLastHour),
        version: VERSION,
        startTime: timestampFromDate(s.startedAt),
        signingKeyId: s.signingKeyId,
        databaseDriver: s.databaseDriver,
      };
    },
    async rotateSigningKey(_req, ctx) {
      const r = await admin.rotateSigningKey(principalOf(ctx), metaOf(ctx));
      return { keyId: r.kid, previousKeyId: r.previousKid };
    },
  };
}
