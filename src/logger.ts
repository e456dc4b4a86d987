import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Paths that must never reach a log line. Secrets are redacted by key name
 * wherever they appear two levels deep, and request headers that carry
 * credentials or signatures are removed.
 */
export const redactPaths = [
  "authorization",
  "headers.authorization",
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-hub-signature-256"]',
  'req.headers["x-gitlab-token"]',
  'req.headers["x-attesto-connector-signature"]',
  "secret",
  "*.secret",
  "apiKey",
  "*.apiKey",
  "token",
  "*.token",
  "adminToken",
  "*.adminToken",
  "password",
  "*.password",
  "privateKey",
  "*.privateKey",
  "encryptionKey",
  "*.encryptionKey",
  "databaseUrl",
  "*.databaseUrl",
  "redisUrl",
  "*.redisUrl",
  "payload",
  "*.payload",
  "body",
  "*.body",
];

/**
 * JSON logs on stderr, so that stdout carries only what a command prints
 * (for example `attesto --json serve`).
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? "info", destination = pino.destination(2)): Logger {
  return pino(
    {
      level,
      base: { service: "attesto" },
      redact: { paths: redactPaths, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
