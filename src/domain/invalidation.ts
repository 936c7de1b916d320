import type { Logger } from "pino";
import type { Database } from "../db/client.js";

const CHANNEL = "warden_invalidate";

/**
 * Tells every instance that cached facts about something changed ("session:<id>",
 * "user:<id>", "org:<id>", "api_key:<id>", "service_account:<id>"): delivered here at once
 * and to other instances through PostgreSQL LISTEN/NOTIFY.
 */
export class InvalidationBus {
  private readonly handlers: ((tag: string) => void)[] = [];

  constructor(
    private readonly database: Database,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.database.listen(CHANNEL, (tag) => this.deliver(tag));
  }

  subscribe(handler: (tag: string) => void): void {
    this.handlers.push(handler);
  }

  /** Call after the changing transaction has committed. */
  async publish(tags: string[]): Promise<void> {
    for (const tag of tags) {
      this.deliver(tag);
      await this.database.notify(CHANNEL, tag).catch((err: Error) => this.log.warn({ err: { message: err.message }, tag }, "invalidation notify failed"));
    }
  }

  private deliver(tag: string): void {
    for (const h of this.handlers) h(tag);
  }
}
