import { createHmac } from "node:crypto";
import { randomToken } from "../../crypto/random.js";

/**
 * How a receiver checks a delivery (README "Notification channels"): HMAC-SHA256, keyed with the
 * channel's signing secret (its UTF-8 bytes, as CreateNotificationChannel returned it), over
 * "<Warden-Webhook-Timestamp>.<body>", hex, sent as "v1=<hex>". The timestamp lets receivers
 * refuse old replays; the delivery id lets them drop duplicates (delivery is at least once).
 */
export const WEBHOOK_HEADERS = {
  id: "warden-webhook-id",
  timestamp: "warden-webhook-timestamp",
  signature: "warden-webhook-signature",
  event: "warden-webhook-event",
} as const;

export function newSigningSecret(): string {
  return `whsec_${randomToken(32)}`;
}

/** "v1=<hex HMAC-SHA256(secret, `${timestamp}.${body}`)>"; timestamp in Unix seconds. */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}
