import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { NotificationChannelSchema, NotificationService, type NotificationChannel } from "../../gen/warden/notification/v1/notification_service_pb.js";
import type { NotificationChannels } from "../domain/notification/notification-channels.js";
import type { NotificationChannelRecord } from "../domain/notification/notification-store.js";
import { metaOf, principalOf } from "./call-context.js";

export function notificationHandlers(channels: NotificationChannels): ServiceImpl<typeof NotificationService> {
  return {
    async createNotificationChannel(req, ctx) {
      const { channel, secret } = await channels.create(
        principalOf(ctx),
        { name: req.name, webhookUrl: req.webhookUrl, eventTypes: req.eventTypes },
        metaOf(ctx),
      );
      return { channel: channelToProto(channel), signingSecret: secret };
    },
    async listNotificationChannels(req) {
      const page = await channels.list(req.pageSize, req.pageToken);
      return { channels: page.items.map(channelToProto), nextPageToken: page.nextPageToken };
    },
    async disableNotificationChannel(req, ctx) {
      return { channel: channelToProto(await channels.disable(principalOf(ctx), req.id, metaOf(ctx))) };
    },
    async deleteNotificationChannel(req, ctx) {
      await channels.delete(principalOf(ctx), req.id, metaOf(ctx));
      return {};
    },
  };
}

/** Never the secret: it is returned once, by CreateNotificationChannel. */
function channelToProto(c: NotificationChannelRecord): NotificationChannel {
  return create(NotificationChannelSchema, {
    id: c.id,
    name: c.name,
    webhookUrl: c.webhookUrl,
    eventTypes: c.eventTypes,
    disabled: c.disabled,
    createdAt: timestampFromDate(c.createdAt),
  });
}
