import type { EmailSender } from "../domain/email/email-sender.js";
import { EmailVerification } from "../domain/user/email-verification.js";
import { LogEmailSender } from "../mail/log-sender.js";
import { SmtpEmailSender } from "../mail/smtp-sender.js";
import type { Core } from "./core.js";

export interface EmailArea {
  verification: EmailVerification;
}

/** The mail server (or the log, without one) and the proof of address it carries. */
export function wireEmail(core: Core): EmailArea {
  const { config, store, clock, audit, limiter } = core;
  const mail: EmailSender = config.smtp_host
    ? new SmtpEmailSender({
        host: config.smtp_host,
        port: config.smtp_port,
        secure: config.smtp_secure,
        requireStartTls: config.smtp_require_tls && !config.smtp_secure,
        username: config.smtp_username,
        password: config.smtp_password,
        from: config.smtp_from,
        caFile: config.smtp_tls_ca_file,
        timeoutMs: config.smtp_timeout * 1000,
      })
    : new LogEmailSender(core.log, config.dev);
  const verification = new EmailVerification({
    store,
    clock,
    mail,
    devCodes: core.devCodes,
    hash: core.keyedHash,
    limiter,
    audit,
    linkUrl: config.email_verification_url,
    ttlSeconds: config.email_verification_ttl,
  });
  return { verification };
}
