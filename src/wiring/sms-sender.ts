import type { Logger } from "pino";
import type { Config } from "../config.js";
import { LogSmsSender, WebhookSmsSender, type SmsSender } from "../domain/mfa/sms-sender.js";

export function createSmsSender(config: Config, log: Logger): SmsSender {
  if (!config.sms_webhook_url) return new LogSmsSender(log, config.dev);
  return new WebhookSmsSender({
    url: config.sms_webhook_url,
    bearerToken: config.sms_webhook_token,
    timeoutMs: config.sms_webhook_timeout * 1000,
    retries: config.sms_webhook_retries,
  });
}
