import { createRequire } from "node:module";
import { pino, type DestinationStream, type Logger } from "pino";

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
  "boardViewerToken",
  "*.boardViewerToken",
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

export type LogFormat = "auto" | "json" | "pretty";

/**
 * Pretty lines for a person at a terminal in development; JSON for everything
 * else (pipes, files, log collectors, NODE_ENV=production).
 */
export function wantsPrettyLogs(format: LogFormat, env: { isTty: boolean; nodeEnv: string | undefined }): boolean {
  if (format !== "auto") return format === "pretty";
  return env.isTty && env.nodeEnv !== "production";
}

/**
 * pino-pretty as a synchronous stream on stderr, or undefined where it is not
 * installed (it is a development dependency: the production image logs JSON).
 */
function prettyStderr(): DestinationStream | undefined {
  try {
    const pretty = createRequire(import.meta.url)("pino-pretty") as (opts: object) => DestinationStream;
    return pretty({ destination: 2, sync: true, colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,service" });
  } catch {
    return undefined;
  }
}

/**
 * Logs on stderr, so that stdout carries only what a command prints (for
 * example `attesto --json serve`): JSON, or pretty lines on a terminal in
 * development (ATTESTO_LOG_FORMAT=auto|json|pretty).
 */
export function createLogger(
  level: string = process.env.LOG_LEVEL ?? "info",
  destination?: DestinationStream,
  format: LogFormat = (process.env.ATTESTO_LOG_FORMAT as LogFormat | undefined) || "auto",
): Logger {
  const pretty = !destination && wantsPrettyLogs(format, { isTty: Boolean(process.stderr.isTTY), nodeEnv: process.env.NODE_ENV }) ? prettyStderr() : undefined;
  return pino(
    {
      level,
      base: { service: "attesto" },
      redact: { paths: redactPaths, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pretty ?? pino.destination(2),
  );
}
