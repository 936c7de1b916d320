/** What cached facts can go stale, and the id that names the changed thing. */
export const INVALIDATION_TOPICS = [
  "session",
  "user",
  "org",
  "api_key",
  "service_account",
  "role",
  "policy",
  "org_policy",
  "device",
  "ca",
  "agent",
  "lock",
  /** An access request was approved or cancelled: every instance reloads the roles it grants. */
  "access_request",
  "cluster_config",
  /** A node's SSH sessions changed or one was revoked: its next heartbeat writes and reads them. */
  "ssh_session",
] as const;
export type InvalidationTopic = (typeof INVALIDATION_TOPICS)[number];

export interface Invalidation {
  topic: InvalidationTopic;
  /** The session, user, organization, key or service-account id, or the role name. */
  id: string;
}

/** Cross-instance notifications, as the database provides them (LISTEN/NOTIFY). */
export interface NotificationChannel {
  listen(channel: string, onMessage: (payload: string) => void): Promise<void>;
  notify(channel: string, payload: string): Promise<void>;
}

export interface BusLog {
  warn(obj: object, msg: string): void;
}

const CHANNEL = "warden_invalidate";
const TOPICS = new Set<string>(INVALIDATION_TOPICS);

/** On the wire: `<topic>:<id>`; anything else is not ours and is ignored. */
export function encodeInvalidation(i: Invalidation): string {
  return `${i.topic}:${i.id}`;
}

export function decodeInvalidation(payload: string): Invalidation | undefined {
  const colon = payload.indexOf(":");
  const topic = payload.slice(0, colon);
  if (colon < 1 || !TOPICS.has(topic)) return undefined;
  return { topic: topic as InvalidationTopic, id: payload.slice(colon + 1) };
}

/**
 * Tells every instance that cached facts about something changed: delivered here at once and
 * to other instances through the notification channel (PostgreSQL LISTEN/NOTIFY).
 */
export class InvalidationBus {
  private readonly handlers = new Map<InvalidationTopic, ((id: string) => void)[]>();

  constructor(
    private readonly channel: NotificationChannel,
    private readonly log: BusLog,
  ) {}

  async start(): Promise<void> {
    await this.channel.listen(CHANNEL, (payload) => {
      const i = decodeInvalidation(payload);
      if (i) this.deliver(i);
    });
  }

  on(topic: InvalidationTopic, handler: (id: string) => void): void {
    this.handlers.set(topic, [...(this.handlers.get(topic) ?? []), handler]);
  }

  /** Call after the changing transaction has committed. */
  async publish(changes: Invalidation[]): Promise<void> {
    for (const change of changes) {
      this.deliver(change);
      await this.channel
        .notify(CHANNEL, encodeInvalidation(change))
        .catch((err: Error) => this.log.warn({ err: { message: err.message }, topic: change.topic }, "invalidation notify failed"));
    }
  }

  private deliver(i: Invalidation): void {
    for (const h of this.handlers.get(i.topic) ?? []) h(i.id);
  }
}
