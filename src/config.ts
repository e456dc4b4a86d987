import path from "node:path";
import { z } from "zod";

const boolFromEnv = z
  .enum(["true", "false", "1", "0", "yes", "no", ""])
  .transform((v) => v === "true" || v === "1" || v === "yes");

const envSchema = z.object({
  HOST: z.string().default("127.0.0.1"),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  PUBLIC_BASE_URL: z.string().url().optional(),
  ATTESTO_DATA_DIR: z.string().default(".attesto-data"),
  DATABASE_URL: z.string().optional(),
  REDIS_URL: z.string().optional(),
  ATTESTO_ENCRYPTION_KEY: z.string().optional(),
  ATTESTO_ADMIN_TOKEN: z.string().min(16).optional(),
  ATTESTO_CORS_ORIGINS: z.string().default("*"),
  ATTESTO_BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1024 * 1024),
  ATTESTO_SHUTDOWN_GRACE_MS: z.coerce.number().int().positive().default(10_000),
  ATTESTO_API_KEY_CACHE_MS: z.coerce.number().int().min(0).default(5_000),
  ATTESTO_DEV_TENANT: boolFromEnv.optional(),
  ATTESTO_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_:.-]+$/).default("attesto"),
  ATTESTO_ROLE: z.enum(["api", "worker", "all"]).default("all"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type Role = "api" | "worker" | "all";

export interface Config {
  host: string;
  port: number;
  publicBaseUrl: string;
  dataDir: string;
  /** Unset means the embedded PGlite database under dataDir. */
  databaseUrl: string | undefined;
  /** Unset means: 127.0.0.1:6379 if it answers, else a redis-server we start. */
  redisUrl: string | undefined;
  encryptionKey: string | undefined;
  adminToken: string | undefined;
  corsOrigins: string[] | "*";
  bodyLimitBytes: number;
  shutdownGraceMs: number;
  apiKeyCacheMs: number;
  /** Create a development tenant and key at start-up (embedded default only). */
  devTenant: boolean;
  logLevel: z.infer<typeof envSchema>["LOG_LEVEL"];
  /** api: serve requests only; worker: process jobs only; all: both. */
  role: Role;
  /** BullMQ key prefix. */
  queuePrefix: string;
}

/** Reads configuration from the environment; a bad value names the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`invalid environment variable ${String(issue.path[0])}: ${issue.message}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.ATTESTO_DATA_DIR);
  const host = overrides.host ?? e.HOST;
  const port = overrides.port ?? e.PORT;
  const config: Config = {
    host,
    port,
    publicBaseUrl: e.PUBLIC_BASE_URL ?? `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    dataDir,
    databaseUrl: e.DATABASE_URL || undefined,
    redisUrl: e.REDIS_URL || undefined,
    encryptionKey: e.ATTESTO_ENCRYPTION_KEY || undefined,
    adminToken: e.ATTESTO_ADMIN_TOKEN,
    corsOrigins: e.ATTESTO_CORS_ORIGINS === "*" ? "*" : e.ATTESTO_CORS_ORIGINS.split(",").map((s) => s.trim()),
    bodyLimitBytes: e.ATTESTO_BODY_LIMIT_BYTES,
    shutdownGraceMs: e.ATTESTO_SHUTDOWN_GRACE_MS,
    apiKeyCacheMs: e.ATTESTO_API_KEY_CACHE_MS,
    devTenant: e.ATTESTO_DEV_TENANT ?? !e.DATABASE_URL,
    logLevel: e.LOG_LEVEL,
    role: e.ATTESTO_ROLE,
    queuePrefix: e.ATTESTO_QUEUE_PREFIX,
    ...overrides,
  };
  return config;
}
