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

/** Drizzle's wrapper puts the statement and every parameter (payloads, key hashes) into its message. */
const FAILED_QUERY = /^Failed query: /;
const WITHHELD = "database query failed (statement and parameters withheld)";

/**
 * An error as a log line may show it. Database errors keep their kind,
 * SQLSTATE, message and constraint, never the statement, its parameters or
 * the server's `detail`/`where` (both quote row values): values a tenant sent never reach the logs.
 * Drizzle's wrapper is replaced by its cause. Other errors keep type,
 * message, code and stack; causes are followed a few levels.
 */
export function safeError(err: unknown, depth = 0): unknown {
  if (typeof err === "string") return FAILED_QUERY.test(err) ? WITHHELD : err;
  if (!(err instanceof Error)) return err;
  const e = err as Error & { code?: unknown; constraint_name?: unknown; severity?: unknown; query?: unknown; params?: unknown };
  if (FAILED_QUERY.test(e.message) && "params" in e) {
    return e.cause !== undefined && depth < 4 ? safeError(e.cause, depth + 1) : { type: "DrizzleQueryError", message: WITHHELD };
  }
  const out: Record<string, unknown> = { type: e.name, message: FAILED_QUERY.test(e.message) ? WITHHELD : e.message };
  if (typeof e.code === "string" || typeof e.code === "number") out.code = e.code;
  if (typeof e.constraint_name === "string") out.constraint = e.constraint_name;
  if (typeof e.severity === "string") out.severity = e.severity;
  else if (e.stack)
    out.stack = e.stack
      .split("\n")
      .filter((line) => !FAILED_QUERY.test(line) && !line.startsWith("params: "))
      .join("\n");
  if (e.cause !== undefined && depth < 4) out.cause = safeError(e.cause, depth + 1);
  return out;
}

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
 * development (ATTESTO_LOG_FORMAT=auto|json|pretty). Every `err` goes
 * through safeError, whether an Error or the message of one.
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
      serializers: { err: (err: unknown) => safeError(err) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pretty ?? pino.destination(2),
  );
}
