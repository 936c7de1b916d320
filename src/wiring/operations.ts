import { SystemAdmin } from "../domain/admin/system-admin.js";
import { AuditQueries } from "../domain/audit/audit-queries.js";
import { adminHandlers } from "../handlers/admin.js";
import { auditHandlers } from "../handlers/audit.js";
import { grpcHealthHandlers, healthHandlers } from "../handlers/health.js";
import type { ServiceHandlers } from "../routes.js";
import { wireAudit, type CheckpointSchedule } from "./audit.js";
import type { Core } from "./core.js";

/** Health, the audit log (and its checkpoint schedule) and installation-wide administration. */
export function wireOperations(core: Core): {
  handlers: Pick<ServiceHandlers, "health" | "grpcHealth" | "audit" | "admin">;
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
  return {
    handlers: {
      grpcHealth: grpcHealthHandlers(core.readiness),
      health: healthHandlers(core.readiness),
      audit: auditHandlers(new AuditQueries(store), audit.verifier, audit.checkpoints),
      admin: adminHandlers(admin),
    },
    auditCheckpoints: audit.schedule,
  };
}
