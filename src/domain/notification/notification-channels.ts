import type { Clock } from "../../clock.js";
import type { SecretBox } from "../../crypto/master-key.js";
import { auditActor } from "../audit/audit-actor.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { invalidArgument, notFound } from "../errors.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import type { Principal } from "../principal.js";
import type { AuditStore } from "../store/audit-store.js";
import type { Ports } from "../store/transactional.js";
import { isNotificationEventType, NOTIFICATION_EVENT_TYPES } from "./event-types.js";
import type { NotificationChannelRecord, NotificationStore } from "./notification-store.js";
import { newSigningSecret } from "./webhook-signature.js";
import { checkWebhookUrl, type TargetRules } from "./webhook-target.js";

export interface NewNotificationChannel {
  name: string;
  webhookUrl: string;
  eventTypes: string[];
}

export interface NotificationChannelsDeps {
  store: Ports<{ notifications: NotificationStore; audit: AuditStore }>;
  clock: Clock;
  audit: AuditLog;
  box: SecretBox;
  rules: TargetRules;
}

/**
 * NotificationService: admins make, list, disable and delete webhook channels (cluster-wide).
 * Each change commits with its audit event; the signing secret is returned once and stored
 * sealed with the master key.
 */
export class NotificationChannels {
  constructor(private readonly d: NotificationChannelsDeps) {}

  async create(caller: Principal, req: NewNotificationChannel, meta: RequestMeta): Promise<{ channel: NotificationChannelRecord; secret: string }> {
    const name = req.name.trim();
    if (!name) throw invalidArgument("name", "must not be blank");
    const url = checkWebhookUrl(req.webhookUrl, this.d.rules);
    const eventTypes = [...new Set(req.eventTypes)];
    if (eventTypes.length === 0) throw invalidArgument("event_types", `name at least one of ${Object.keys(NOTIFICATION_EVENT_TYPES).join(", ")}`);
    const unknown = eventTypes.find((e) => !isNotificationEventType(e));
    if (unknown !== undefined) throw invalidArgument("event_types", `"${unknown}" is not one of ${Object.keys(NOTIFICATION_EVENT_TYPES).join(", ")}`);
    const secret = newSigningSecret();
    const channel = await this.d.store.transaction(async (tx) => {
      const created = await tx.notifications.createChannel({
        name,
        webhookUrl: url.href,
        eventTypes,
        disabled: false,
        secretSealed: this.d.box.seal(secret),
        createdBy: caller.kind === "user" ? caller.userId : caller.id,
        createdAt: this.d.clock.now(),
      });
      await this.d.audit.record(tx, {
        eventType: "notification_channel.create",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "notification_channel",
        targetId: created.id,
        // The host only: a webhook URL's path or query may carry a token of the receiver.
        details: { name, webhook_host: url.host, event_types: eventTypes.join(",") },
      });
      return created;
    });
    return { channel, secret };
  }

  async list(pageSizeRequested: number, pageToken: string): Promise<{ items: NotificationChannelRecord[]; nextPageToken: string }> {
    const size = pageSize(pageSizeRequested);
    const rows = await this.d.store.notifications.listChannels(size + 1, decodeCreatedCursor(pageToken));
    return pageOf(rows, size, createdCursorOf);
  }

  async disable(caller: Principal, id: string, meta: RequestMeta): Promise<NotificationChannelRecord> {
    return this.changed(caller, id, meta, "notification_channel.disable", (tx) => tx.notifications.disableChannel(id, this.d.clock.now()));
  }

  async delete(caller: Principal, id: string, meta: RequestMeta): Promise<void> {
    await this.changed(caller, id, meta, "notification_channel.delete", (tx) => tx.notifications.deleteChannel(id));
  }

  /** One change to a channel and its audit event, in one transaction; an unknown channel is NOT_FOUND. */
  private changed(
    caller: Principal,
    id: string,
    meta: RequestMeta,
    eventType: "notification_channel.disable" | "notification_channel.delete",
    change: (tx: { notifications: NotificationStore }) => Promise<NotificationChannelRecord | undefined>,
  ): Promise<NotificationChannelRecord> {
    return this.d.store.transaction(async (tx) => {
      const channel = await change(tx);
      if (!channel) throw notFound("NOT_FOUND", "notification channel");
      await this.d.audit.record(tx, {
        eventType,
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "notification_channel",
        targetId: id,
        details: { name: channel.name },
      });
      return channel;
    });
  }
}
