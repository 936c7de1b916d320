import type { Logger } from "pino";
import type { Clock } from "../../clock.js";
import type { SecretBox } from "../../crypto/master-key.js";
import type { ClaimedDelivery, NotificationStore } from "./notification-store.js";
import type { WebhookSender } from "./webhook-sender.js";
import { WEBHOOK_HEADERS, webhookSignature } from "./webhook-signature.js";

export interface DeliveryWorkerDeps {
  store: Pick<NotificationStore, "claimDue" | "markDelivered" | "markRetry" | "markFailed" | "purgeFinished">;
  clock: Clock;
  box: SecretBox;
  send: WebhookSender;
  log: Logger;
  /** Attempts before a delivery is failed; the first retry's delay, doubled per attempt. */
  maxAttempts: number;
  retryBaseSeconds: number;
  /** How long a claimed delivery is this instance's: longer than one attempt may take. */
  leaseSeconds: number;
  pollMs: number;
}

const BATCH = 20;
const MAX_BACKOFF_SECONDS = 3600;
/** Finished deliveries are kept this long (their state and last answer can be looked at meanwhile). */
const KEEP_FINISHED_MS = 7 * 86400_000;
const PURGE_EVERY_MS = 10 * 60_000;

/**
 * Sends the outbox. Every instance runs one: a tick claims due deliveries (each goes to one
 * instance), posts them signed, and records the answer: delivered, retried with exponential
 * backoff, or failed after maxAttempts. Now and then it purges old finished deliveries. Secrets are opened only to sign, never logged.
 */
export class DeliveryWorker {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  // In the clock's time (a test's manual clock moves it on).
  private lastPurge = 0;

  constructor(private readonly d: DeliveryWorkerDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.d.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One round (skipped while the previous one runs). */
  tick(): Promise<void> {
    this.running ??= this.round()
      .catch((err: Error) => this.d.log.warn({ err: { message: err.message } }, "notification delivery round failed"))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async round(): Promise<void> {
    const now = this.d.clock.now();
    const t = now.getTime();
    if (t - this.lastPurge >= PURGE_EVERY_MS) {
      this.lastPurge = t;
      await this.d.store.purgeFinished(new Date(t - KEEP_FINISHED_MS));
    }
    const claimed = await this.d.store.claimDue(now, new Date(now.getTime() + this.d.leaseSeconds * 1000), BATCH);
    await Promise.all(claimed.map((c) => this.deliver(c)));
  }

  private async deliver(c: ClaimedDelivery): Promise<void> {
    try {
      await this.attempt(c);
    } catch (err) {
      // A secret that no longer opens (another master key) or a database fault: the lease ends it.
      this.d.log.warn({ delivery: c.id, err: { message: (err as Error).message } }, "webhook delivery attempt failed");
    }
  }

  private async attempt(c: ClaimedDelivery): Promise<void> {
    const body = JSON.stringify({ id: c.id, ...c.payload });
    const timestamp = Math.floor(this.d.clock.now().getTime() / 1000);
    const signature = webhookSignature(this.d.box.open(c.secretSealed), timestamp, body);
    const result = await this.d.send({
      url: c.webhookUrl,
      body,
      headers: {
        [WEBHOOK_HEADERS.id]: c.id,
        [WEBHOOK_HEADERS.timestamp]: String(timestamp),
        [WEBHOOK_HEADERS.signature]: signature,
        [WEBHOOK_HEADERS.event]: c.eventType,
        "user-agent": "Warden-Webhook/1",
      },
    });
    const now = this.d.clock.now();
    const outcome = { status: result.status, error: result.error };
    if (result.ok) return this.d.store.markDelivered(c.id, outcome, now);
    if (c.attempts >= this.d.maxAttempts) {
      this.d.log.warn({ delivery: c.id, event: c.eventType, status: result.status, attempts: c.attempts }, "webhook delivery failed for good");
      return this.d.store.markFailed(c.id, outcome, now);
    }
    const delay = Math.min(this.d.retryBaseSeconds * 2 ** (c.attempts - 1), MAX_BACKOFF_SECONDS);
    return this.d.store.markRetry(c.id, outcome, new Date(now.getTime() + delay * 1000));
  }
}
