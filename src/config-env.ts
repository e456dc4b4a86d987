import { z } from "zod";

/*
 * The environment variables the configuration reads, their types, defaults
 * and bounds (zod), and the parsers of the values zod cannot express; config.ts
 * turns them into the Config the modules read through their settings.
 */

const boolFromEnv = z.enum(["true", "false", "1", "0", "yes", "no", ""]).transform((v) => v === "true" || v === "1" || v === "yes");

export const envSchema = z.object({
  HOST: z.string().default("127.0.0.1"),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  PUBLIC_BASE_URL: z.string().url().optional(),
  ATTESTO_DATA_DIR: z.string().default(".attesto-data"),
  DATABASE_URL: z.string().optional(),
  ATTESTO_EMBEDDED_PG_USER: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/)
    .default("attesto"),
  REDIS_URL: z.string().optional(),
  ATTESTO_REDIS_SENTINELS: z
    .string()
    .regex(/^\s*[^\s:,]+:\d{1,5}\s*(,\s*[^\s:,]+:\d{1,5}\s*)*$/, "host:port[,host:port…]")
    .optional(),
  ATTESTO_REDIS_SENTINEL_MASTER: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .default("mymaster"),
  ATTESTO_REDIS_SENTINEL_PASSWORD: z.string().optional(),
  ATTESTO_ENCRYPTION_KEY: z.string().optional(),
  ATTESTO_OLD_ENCRYPTION_KEY: z.string().optional(),
  ATTESTO_ADMIN_TOKEN: z.string().min(16).optional(),
  ATTESTO_BOARD_VIEWER_TOKEN: z.string().min(16).optional(),
  ATTESTO_CORS_ORIGINS: z.string().default("*"),
  ATTESTO_RPC_FAST_PATH: z.enum(["on", "off"]).default("on"),
  ATTESTO_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  ATTESTO_SHUTDOWN_GRACE_MS: z.coerce.number().int().positive().default(10_000),
  ATTESTO_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  ATTESTO_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  ATTESTO_IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).default(65_000),
  ATTESTO_MAX_CONNECTIONS_PER_IP: z.coerce.number().int().min(0).default(1024),
  ATTESTO_MAX_PENDING_BODIES: z.coerce.number().int().min(0).default(4096),
  ATTESTO_PUBLIC_CONCURRENCY: z.coerce.number().int().min(1).default(4),
  ATTESTO_PUBLIC_QUEUE: z.coerce.number().int().min(0).default(256),
  ATTESTO_PUBLIC_QUEUE_WAIT_MS: z.coerce.number().int().min(0).default(2_000),
  ATTESTO_PUBLIC_CPU_MS_PER_S: z.coerce.number().int().min(0).max(1000).default(200),
  ATTESTO_PUBLIC_MAX_LOOP_UTILIZATION: z.coerce.number().min(0.05).max(1).default(0.7),
  ATTESTO_API_KEY_CACHE_MS: z.coerce.number().int().min(0).default(5_000),
  ATTESTO_DEV_TENANT: boolFromEnv.optional(),
  ATTESTO_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]+$/)
    .optional(),
  ATTESTO_RECONFIGURE: boolFromEnv.default(false),
  ATTESTO_ROLE: z.enum(["api", "worker", "all"]).default("all"),
  ATTESTO_DB_POOL: z.coerce.number().int().min(1).max(200).default(20),
  ATTESTO_WORKERS: z.coerce.number().int().min(1).max(256).optional(),
  ATTESTO_DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(3_000),
  ATTESTO_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  ATTESTO_REQUEST_DEADLINE_MS: z.coerce.number().int().min(0).max(3_600_000).default(15_000),
  ATTESTO_CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(100).default(1_000),
  ATTESTO_RECEIPT_SIGN_INTERVAL_MS: z.coerce.number().int().min(0).max(10_000).default(20),
  ATTESTO_SELF_AUDIT_INTERVAL_MS: z.coerce.number().int().min(1_000).default(300_000),
  ATTESTO_SELF_AUDIT_SAMPLE: z.coerce.number().int().min(0).default(3),
  ATTESTO_SELF_AUDIT_MAX_LEAVES: z.coerce.number().int().min(1).default(100_000),
  ATTESTO_TILE_CACHE_MB: z.coerce.number().int().min(1).default(256),
  ATTESTO_LEAF_CACHE_MB: z.coerce.number().int().min(1).default(256),
  ATTESTO_HEAD_CACHE_MS: z.coerce.number().int().min(0).default(30_000),
  ATTESTO_WITNESSES: z.string().default(""),
  ATTESTO_WITNESS_QUORUM: z.coerce.number().int().min(0).default(0),
  ATTESTO_WITNESS_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5_000),
  ATTESTO_WITNESS_KEY: z.string().optional(),
  ATTESTO_TSA_URLS: z.string().default(""),
  ATTESTO_TSA_ROOTS: z.string().optional(),
  ATTESTO_TSA_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  ATTESTO_TILES_PUBLIC: boolFromEnv.default(false),
  ATTESTO_WEBHOOK_ALLOW_LOOPBACK: boolFromEnv.optional(),
  ATTESTO_WEBHOOK_TRACEPARENT: boolFromEnv.default(false),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.string().url().optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(200).default("attesto"),
  ATTESTO_WEBHOOK_RETRY_SCHEDULE: z.string().default("0,30s,2m,10m,1h,6h,24h"),
  ATTESTO_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  ATTESTO_WEBHOOK_RETRY_AFTER_MAX_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(24 * 3600_000),
  ATTESTO_WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(400),
  ATTESTO_WEBHOOK_SECRET_OVERLAP_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600_000)
    .default(24 * 3600_000),
  ATTESTO_WEBHOOK_RELAY_INTERVAL_MS: z.coerce.number().int().min(100).default(10_000),
  ATTESTO_WEBHOOK_RELAY_GRACE_MS: z.coerce.number().int().min(0).default(60_000),
  ATTESTO_WEBHOOK_JOB_LOCK_MS: z.coerce.number().int().min(1_000).default(30_000),
  ATTESTO_WEBHOOK_OUTBOX_POLL_MS: z.coerce.number().int().min(10).default(250),
  ATTESTO_WEBHOOK_DISABLE_AFTER_FAILED_DELIVERIES: z.coerce.number().int().min(0).max(1_000_000).default(0),
  ATTESTO_WEBHOOK_DISABLE_AFTER_FAILING_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(5 * 24 * 3_600_000),
  ATTESTO_WEBHOOK_PROOF_SWEEP_MS: z.coerce.number().int().min(100).default(30_000),
  ATTESTO_WEBHOOK_DELIVERY_PROOFS: boolFromEnv.default(true),
  ATTESTO_RATE_LIMITS: boolFromEnv.default(true),
  ATTESTO_RATE_LIMIT_VERIFICATION: z.string().default("100/1s"),
  ATTESTO_RATE_LIMIT_INGEST: z.string().default("20000/1s"),
  ATTESTO_RATE_LIMIT_READS: z.string().default("20000/1s"),
  ATTESTO_RATE_LIMIT_DEFAULT: z.string().default("1000/1s"),
  ATTESTO_RATE_LIMIT_TENANTS: z.string().default(""),
  ATTESTO_RATE_LIMIT_REDIS_TIMEOUT_MS: z.coerce.number().int().min(1).max(5_000).default(100),
  ENABLE_VALIDATION_AUDIT_LOG: boolFromEnv.default(false),
  ATTESTO_VALIDATION_AUDIT_QUEUE: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  ATTESTO_VALIDATION_AUDIT_FLUSH_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
  ATTESTO_APPLE_ROOT_CERTS: z.string().optional(),
  ATTESTO_APPLE_ONLINE_CHECKS: boolFromEnv.default(false),
  ATTESTO_APPLE_OCSP_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  ATTESTO_APPLE_API_PRODUCTION_URL: z.string().url().default("https://api.storekit.itunes.apple.com"),
  ATTESTO_APPLE_API_SANDBOX_URL: z.string().url().default("https://api.storekit-sandbox.itunes.apple.com"),
  ATTESTO_STORE_UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  ATTESTO_STORE_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(0).max(86_400_000).default(900_000),
  ATTESTO_STORE_RECONCILE_FIRST_WINDOW_MS: z.coerce.number().int().min(60_000).max(2_592_000_000).default(86_400_000),
  ATTESTO_GOOGLE_TOKEN_URL: z.string().url().default("https://oauth2.googleapis.com/token"),
  ATTESTO_GOOGLE_PLAY_API_URL: z.string().url().default("https://androidpublisher.googleapis.com"),
  ATTESTO_GOOGLE_OIDC_JWKS_URL: z.string().url().default("https://www.googleapis.com/oauth2/v3/certs"),
  ATTESTO_GOOGLE_OIDC_ISSUERS: z.string().default("https://accounts.google.com,accounts.google.com"),
  ATTESTO_STORE_CREDENTIAL_CACHE_MS: z.coerce.number().int().min(0).default(60_000),
  ATTESTO_CONNECTOR_SECRET_OVERLAP_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600_000)
    .default(24 * 3600_000),
  ATTESTO_CONNECTOR_CACHE_MS: z.coerce.number().int().min(0).default(5_000),
  ATTESTO_CONNECTOR_STATS_FLUSH_MS: z.coerce.number().int().min(50).default(1_000),
  ATTESTO_CONNECTOR_ALLOW_LOOPBACK: boolFromEnv.default(false),
  ATTESTO_CONNECTOR_S3_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  ATTESTO_BUNDLE_MAX_EVENTS: z.coerce.number().int().min(1).default(10_000_000),
  ATTESTO_BUNDLE_PAGE_SIZE: z.coerce.number().int().min(1).max(100_000).default(5_000),
  ATTESTO_BUNDLE_CHUNK_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  ATTESTO_BUNDLE_INLINE_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(4 * 1024 * 1024),
  ATTESTO_VERIFY_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(16 * 1024 * 1024),
  ATTESTO_VERIFY_THREADS: z.coerce.number().int().min(1).max(64).default(1),
  ATTESTO_VERIFY_QUEUE: z.coerce.number().int().min(0).default(8),
  ATTESTO_VERIFY_BUDGET_MS: z.coerce.number().int().min(100).default(5_000),
  ATTESTO_ANCHOR_RPC_URL: z.string().url().optional(),
  ATTESTO_ANCHOR_CHAIN_ID: z.coerce.number().int().positive().optional(),
  ATTESTO_ANCHOR_PRIVATE_KEY: z
    .string()
    .regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits")
    .optional(),
  ATTESTO_ANCHOR_DEV_CHAIN: boolFromEnv.optional(),
  ATTESTO_ANCHOR_INTERVAL_MS: z.coerce.number().int().min(100).default(60_000),
  ATTESTO_ANCHOR_POLL_MS: z.coerce.number().int().min(100).default(2_000),
  ATTESTO_ANCHOR_FINALITY: z.enum(["auto", "finalized", "confirmations"]).default("auto"),
  ATTESTO_ANCHOR_CONFIRMATIONS: z.coerce.number().int().min(1).max(10_000).default(12),
  ATTESTO_ANCHOR_ORPHAN_WINDOW_MS: z.coerce.number().int().min(100).default(3_600_000),
  ATTESTO_ANCHOR_REPLACE_AFTER_MS: z.coerce.number().int().min(100).default(180_000),
  ATTESTO_ANCHOR_MAX_MEMBERS: z.coerce.number().int().min(1).max(1_000_000).default(100_000),
  ATTESTO_ANCHOR_RPC_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  ATTESTO_ANCHOR_CHAIN_CHECK_MS: z.coerce.number().int().min(100).default(300_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  ATTESTO_LOG_FORMAT: z.enum(["auto", "json", "pretty", ""]).default("auto"),
});

export type Env = z.infer<typeof envSchema>;

/** Runs `parse` on one variable's value; what it throws names the variable. */
export function envValue<T>(variable: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new Error(`invalid environment variable ${variable}: ${(err as Error).message}`);
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** "0,30s,2m,1h": the delays before each attempt, in ms (at least one; the first is usually 0). */
export function parseSchedule(variable: string, value: string): number[] {
  const delays = value.split(",").map((part) => {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(part);
    if (!match || (!match[2] && Number(match[1]) !== 0)) {
      throw new Error(`invalid environment variable ${variable}: "${part.trim()}" is not a duration like 0, 500ms, 30s, 2m, 1h or 1d`);
    }
    return Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? "ms"]!);
  });
  if (delays.length > 50) throw new Error(`invalid environment variable ${variable}: at most 50 attempts`);
  return delays;
}
