import { createNotificationStore, NotificationRepository } from "../db/repositories/notification-repository.js";
import { DeliveryWorker } from "../domain/notification/delivery-worker.js";
import { NotificationChannels } from "../domain/notification/notification-channels.js";
import { createWebhookSender } from "../domain/notification/webhook-sender.js";
import { notificationHandlers } from "../handlers/notification.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";

/** How often each instance looks for due deliveries. */
const POLL_MS = 1000;

/**
 * NotificationService (admin calls) and the delivery worker every instance runs. Events reach
 * the outbox by themselves (the trigger on audit_events), so no other area changes for them.
 */
export function wireNotifications(core: Core): { handlers: Pick<ServiceHandlers, "notification">; worker: DeliveryWorker } {
  const { config, database, clock, audit, box, log, auditChainKeys } = core;
  const rules = { allowLoopback: config.notification_allow_loopback };
  const channels = new NotificationChannels({ store: createNotificationStore(database.db, auditChainKeys.current), clock, audit, box, rules });
  const worker = new DeliveryWorker({
    store: new NotificationRepository(database.db),
    clock,
    box,
    log,
    send: createWebhookSender({ ...rules, timeoutMs: config.notification_timeout * 1000 }),
    maxAttempts: config.notification_max_attempts,
    retryBaseSeconds: config.notification_retry_base,
    leaseSeconds: config.notification_timeout + 30,
    pollMs: POLL_MS,
  });
  worker.start();
  return { handlers: { notification: notificationHandlers(channels) }, worker };
}
