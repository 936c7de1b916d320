/**
 * The events a notification channel may ask for, with when they happen. Each is an audit event
 * that becomes a delivery in the transaction that records it: the trigger on audit_events
 * (migration 0027) maps the audit types to these (a review to review, approve or deny).
 */
export const NOTIFICATION_EVENT_TYPES = {
  "access_request.create": "A user asked for roles",
  "access_request.review": "A reviewer approved an access request that needs more approvals",
  "access_request.approve": "An access request reached its approvals: the roles are granted",
  "access_request.deny": "A reviewer denied an access request",
  "access_request.cancel": "A requester cancelled their access request",
  "access_request.expire": "A pending access request, or the access an approved one granted, expired",
  "lock.create": "An admin locked a user, role, node, device, agent identity or login",
  "lock.delete": "An admin deleted a lock",
} as const;

export type NotificationEventType = keyof typeof NOTIFICATION_EVENT_TYPES;

export function isNotificationEventType(value: string): value is NotificationEventType {
  return Object.hasOwn(NOTIFICATION_EVENT_TYPES, value);
}
