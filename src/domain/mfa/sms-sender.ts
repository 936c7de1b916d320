import type { Logger } from "pino";

export interface SmsSender {
  send(phone: string, text: string): Promise<void>;
}

/** Codes last sent per phone, kept only in dev mode, for DevService.GetOTP. */
export class DevOtpStore {
  private readonly last = new Map<string, string>();
  constructor(readonly enabled: boolean) {}
  record(phone: string, code: string): void {
    if (this.enabled) this.last.set(phone, code);
  }
  get(phone: string): string | undefined {
    return this.enabled ? this.last.get(phone) : undefined;
  }
}

export function maskPhone(phone: string): string {
  return phone.length <= 4 ? "****" : `${"*".repeat(phone.length - 4)}${phone.slice(-4)}`;
}

/** The default: writes that a message would go out. The text itself only in dev mode. */
export class LogSmsSender implements SmsSender {
  constructor(
    private readonly log: Logger,
    private readonly dev: boolean,
  ) {}

  async send(phone: string, text: string): Promise<void> {
    if (this.dev) this.log.warn({ to: phone, text }, "dev mode: SMS not sent, shown here instead");
    else this.log.warn({ to: maskPhone(phone) }, "no SMS sender configured (set sms_webhook_url): message dropped");
  }
}

export interface WebhookOptions {
  url: string;
  bearerToken?: string;
  timeoutMs: number;
  retries: number;
}

/** POSTs {to, text} as JSON; retries network errors and 5xx with backoff, each try bounded. */
export class WebhookSmsSender implements SmsSender {
  constructor(private readonly opts: WebhookOptions) {}

  async send(phone: string, text: string): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt <= this.opts.retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
      try {
        const res = await fetch(this.opts.url, {
          method: "POST",
          headers: { "content-type": "application/json", ...(this.opts.bearerToken ? { authorization: `Bearer ${this.opts.bearerToken}` } : {}) },
          body: JSON.stringify({ to: phone, text }),
          signal: AbortSignal.timeout(this.opts.timeoutMs),
        });
        if (res.ok) return;
        lastError = new Error(`SMS webhook answered ${res.status}`);
        if (res.status < 500) break;
      } catch (err) {
        lastError = err;
      }
    }
    throw Object.assign(new Error("SMS webhook failed"), { code: "SMS_UNAVAILABLE", cause: lastError });
  }
}
