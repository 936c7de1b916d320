import pino, { type Logger } from "pino";

/** JSON logs; credentials are redacted even if a caller passes them by mistake. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "warden" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          "password",
          "*.password",
          "token",
          "*.token",
          "authorization",
          "*.authorization",
          "secret",
          "*.secret",
          "refresh_token",
          "*.refresh_token",
          "access_token",
          "*.access_token",
        ],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
