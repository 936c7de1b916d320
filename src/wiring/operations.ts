import { SystemAdmin } from "../domain/admin/system-admin.js";
import { AuditQueries } from "../domain/audit/audit-queries.js";
import { adminHandlers } from "../handlers/admin.js";
import { auditHandlers } from "../handlers/audit.js";
import { grpcHealthHandlers, healthHandlers } from "../handlers/health.js";
import { DevService } from "../../gen/warden/dev/v1/dev_service_pb.js";
import { reflectionHandlers } from "../handlers/reflection.js";
import { DescriptorIndex } from "../reflection/descriptor-index.js";
import { servedServices, type ServiceHandlers } from "../routes.js";
import { wireAudit, type CheckpointSchedule } from "./audit.js";
import type { Core } from "./core.js";

/** Health, server reflection, the audit log (and its checkpoint schedule) and installation-wide administration. */
export function wireOperations(core: Core): {
  handlers: Pick<ServiceHandlers, "health" | "grpcHealth" | "reflectionV1" | "reflectionV1alpha" | "audit" | "admin">;
  auditCheckpoints: CheckpointSchedule;
} {
  const { store, clock, config, database } = core;
  const audit = wireAudit(core);
  const admin = new SystemAdmin({
    store,
    clock,
    keys: core.keys,
    audit: core.audit,
    startedAt: clock.now(),
    databaseDriver: database.driver,
    idleTimeoutSeconds: config.session_idle_timeout,
  });
  const served = servedServices(config.reflection);
  // DevService answers nothing outside dev mode: reflection does not advertise it there.
  const reflection = reflectionHandlers(new DescriptorIndex(config.dev ? served : served.filter((s) => s !== DevService)));
  return {
    handlers: {
      grpcHealth: grpcHealthHandlers(
        core.readiness,
        served.map((s) => s.typeName),
      ),
      reflectionV1: reflection.v1,
      reflectionV1alpha: reflection.v1alpha,
      health: healthHandlers(core.readiness),
      audit: auditHandlers(new AuditQueries(store), audit),
      admin: adminHandlers(admin, core.cluster),
    },
    auditCheckpoints: audit.schedule,
  };
}
