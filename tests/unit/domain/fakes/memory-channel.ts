import type { NotificationChannel } from "../../../../src/domain/invalidation.js";

/**
 * LISTEN/NOTIFY between instances that share it: a notification reaches every listener
 * (the sender's too, as in PostgreSQL). While `dropping`, notifications are lost.
 */
export class MemoryChannel implements NotificationChannel {
  private readonly listeners = new Map<string, ((payload: string) => void)[]>();
  dropping = false;
  readonly sent: string[] = [];

  async listen(channel: string, onMessage: (payload: string) => void): Promise<void> {
    this.listeners.set(channel, [...(this.listeners.get(channel) ?? []), onMessage]);
  }

  async notify(channel: string, payload: string): Promise<void> {
    this.sent.push(payload);
    if (this.dropping) return;
    for (const listener of this.listeners.get(channel) ?? []) listener(payload);
  }
}
