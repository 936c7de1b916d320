import type { Logger } from "pino";
import type { EmailMessage, EmailSender } from "../domain/email/email-sender.js";

/** Without an SMTP server: writes that a message would go out. The text itself only in dev mode. */
export class LogEmailSender implements EmailSender {
  constructor(
    private readonly log: Logger,
    private readonly dev: boolean,
  ) {}

  async send(m: EmailMessage): Promise<void> {
    if (this.dev) this.log.warn({ to: m.to, subject: m.subject, text: m.text }, "dev mode: email not sent, shown here instead");
    else this.log.warn({ subject: m.subject }, "no SMTP server configured (set smtp_host): email dropped");
  }
}
