import { readFileSync } from "node:fs";
import { createTransport, type Transporter } from "nodemailer";
import type { EmailMessage, EmailSender } from "../domain/email/email-sender.js";

export interface SmtpSettings {
  host: string;
  port: number;
  /** TLS from the first byte (usually port 465). */
  secure: boolean;
  /** Otherwise, refuse a server that does not offer STARTTLS (usually port 587). */
  requireStartTls: boolean;
  username?: string;
  password?: string;
  from: string;
  /** PEM bundle to trust for the server's certificate, instead of the system's. */
  caFile?: string;
  timeoutMs: number;
}

/** Sends through an SMTP server with nodemailer; every step is bounded by the timeout. */
export class SmtpEmailSender implements EmailSender {
  private readonly transport: Transporter;

  constructor(private readonly s: SmtpSettings) {
    this.transport = createTransport({
      host: s.host,
      port: s.port,
      secure: s.secure,
      requireTLS: s.requireStartTls,
      auth: s.username ? { user: s.username, pass: s.password ?? "" } : undefined,
      tls: { minVersion: "TLSv1.2", ...(s.caFile ? { ca: readFileSync(s.caFile) } : {}) },
      connectionTimeout: s.timeoutMs,
      greetingTimeout: s.timeoutMs,
      socketTimeout: s.timeoutMs,
    });
  }

  async send(m: EmailMessage): Promise<void> {
    await this.transport.sendMail({ from: this.s.from, to: m.to, subject: m.subject, text: m.text });
  }
}
