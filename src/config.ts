import os from "node:os";
import path from "node:path";
import { envSchema, envValue, parseSchedule } from "./config-env.js";
import { parseLimit, parseTenantLimits } from "./budgets.js";
import { APPLE_ROOT_CERT, projectRoot } from "./paths.js";
import type { Config } from "./config-types.js";

export type { Config, ConnectionLimits, RedisSentinelSettings, Role } from "./config-types.js";

/** Every environment variable the configuration reads (docs/configuration.md documents each). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/** Reads configuration from the environment; a bad value names the variable. */
// eslint-disable-next-line max-lines-per-function -- a declarative table: one line per setting, from the parsed environment
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
    publicBaseUrlConfigured: e.PUBLIC_BASE_URL,
    dataDir,
    databaseUrl: e.DATABASE_URL || undefined,
    embeddedPgUser: e.ATTESTO_EMBEDDED_PG_USER,
    redisUrl: e.REDIS_URL || undefined,
    redisSentinel: e.ATTESTO_REDIS_SENTINELS
      ? {
          sentinels: e.ATTESTO_REDIS_SENTINELS.split(",").map((entry) => {
            const [host, port] = entry.trim().split(":");
            return { host: host!, port: Number(port) };
          }),
          masterName: e.ATTESTO_REDIS_SENTINEL_MASTER,
          sentinelPassword: e.ATTESTO_REDIS_SENTINEL_PASSWORD || undefined,
        }
      : undefined,
    encryptionKey: e.ATTESTO_ENCRYPTION_KEY || undefined,
    oldEncryptionKey: e.ATTESTO_OLD_ENCRYPTION_KEY || undefined,
    adminToken: e.ATTESTO_ADMIN_TOKEN,
    boardViewerToken: e.ATTESTO_BOARD_VIEWER_TOKEN,
    corsOrigins: e.ATTESTO_CORS_ORIGINS === "*" ? "*" : e.ATTESTO_CORS_ORIGINS.split(",").map((s) => s.trim()),
    bodyLimitBytes: e.ATTESTO_BODY_LIMIT_BYTES,
    rpcFastPath: e.ATTESTO_RPC_FAST_PATH === "on",
    shutdownGraceMs: e.ATTESTO_SHUTDOWN_GRACE_MS,
    connectionLimits: {
      headersTimeoutMs: e.ATTESTO_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.ATTESTO_REQUEST_TIMEOUT_MS,
      idleTimeoutMs: e.ATTESTO_IDLE_TIMEOUT_MS,
      maxConnectionsPerIp: e.ATTESTO_MAX_CONNECTIONS_PER_IP,
      maxPendingBodies: e.ATTESTO_MAX_PENDING_BODIES,
    },
    publicRoutes: {
      concurrency: e.ATTESTO_PUBLIC_CONCURRENCY,
      queue: e.ATTESTO_PUBLIC_QUEUE,
      queueWaitMs: e.ATTESTO_PUBLIC_QUEUE_WAIT_MS,
      cpuMsPerSecond: e.ATTESTO_PUBLIC_CPU_MS_PER_S,
      maxLoopUtilization: e.ATTESTO_PUBLIC_MAX_LOOP_UTILIZATION,
    },
    apiKeyCacheMs: e.ATTESTO_API_KEY_CACHE_MS,
    devTenant: e.ATTESTO_DEV_TENANT ?? !e.DATABASE_URL,
    logLevel: e.LOG_LEVEL,
    logFormat: e.ATTESTO_LOG_FORMAT || "auto",
    role: e.ATTESTO_ROLE,
    queuePrefix: e.ATTESTO_QUEUE_PREFIX,
    reconfigure: e.ATTESTO_RECONFIGURE,
    dbPoolSize: e.ATTESTO_DB_POOL,
    workers: e.ATTESTO_WORKERS ?? defaultWorkers(os.availableParallelism()),
    dbConnectTimeoutMs: e.ATTESTO_DB_CONNECT_TIMEOUT_MS,
    dbStatementTimeoutMs: e.ATTESTO_DB_STATEMENT_TIMEOUT_MS,
    requestDeadlineMs: e.ATTESTO_REQUEST_DEADLINE_MS,
    checkpointIntervalMs: e.ATTESTO_CHECKPOINT_INTERVAL_MS,
    receiptSignIntervalMs: e.ATTESTO_RECEIPT_SIGN_INTERVAL_MS,
    selfAuditIntervalMs: e.ATTESTO_SELF_AUDIT_INTERVAL_MS,
    selfAuditSample: e.ATTESTO_SELF_AUDIT_SAMPLE,
    selfAuditMaxLeaves: e.ATTESTO_SELF_AUDIT_MAX_LEAVES,
    tileCacheBytes: e.ATTESTO_TILE_CACHE_MB * 1024 * 1024,
    leafCacheBytes: e.ATTESTO_LEAF_CACHE_MB * 1024 * 1024,
    tilesPublic: e.ATTESTO_TILES_PUBLIC,
    headCacheMs: e.ATTESTO_HEAD_CACHE_MS,
    witnesses: e.ATTESTO_WITNESSES,
    witnessQuorum: e.ATTESTO_WITNESS_QUORUM,
    witnessTimeoutMs: e.ATTESTO_WITNESS_TIMEOUT_MS,
    witnessKey: e.ATTESTO_WITNESS_KEY,
    tsaUrls: e.ATTESTO_TSA_URLS,
    tsaRootsFile: e.ATTESTO_TSA_ROOTS,
    tsaTimeoutMs: e.ATTESTO_TSA_TIMEOUT_MS,
    webhookAllowLoopback: e.ATTESTO_WEBHOOK_ALLOW_LOOPBACK ?? false,
    // A receiver on this machine is what a developer tries first: unless the setting says otherwise, the
    // development tenant (the embedded default's) may use one; every other tenant is held to public HTTPS.
    webhookDevTenantLoopback: e.ATTESTO_WEBHOOK_ALLOW_LOOPBACK === undefined && (e.ATTESTO_DEV_TENANT ?? !e.DATABASE_URL),
    webhookTraceparent: e.ATTESTO_WEBHOOK_TRACEPARENT,
    tracing: { tracesUrl: e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME },
    webhookRetrySchedule: parseSchedule("ATTESTO_WEBHOOK_RETRY_SCHEDULE", e.ATTESTO_WEBHOOK_RETRY_SCHEDULE),
    webhookTimeoutMs: e.ATTESTO_WEBHOOK_TIMEOUT_MS,
    webhookRetryAfterMaxMs: e.ATTESTO_WEBHOOK_RETRY_AFTER_MAX_MS,
    webhookConcurrency: e.ATTESTO_WEBHOOK_CONCURRENCY,
    webhookSecretOverlapMs: e.ATTESTO_WEBHOOK_SECRET_OVERLAP_MS,
    webhookRelayIntervalMs: e.ATTESTO_WEBHOOK_RELAY_INTERVAL_MS,
    webhookRelayGraceMs: e.ATTESTO_WEBHOOK_RELAY_GRACE_MS,
    webhookJobLockMs: e.ATTESTO_WEBHOOK_JOB_LOCK_MS,
    webhookOutboxPollMs: e.ATTESTO_WEBHOOK_OUTBOX_POLL_MS,
    webhookDisableAfterFailedDeliveries: e.ATTESTO_WEBHOOK_DISABLE_AFTER_FAILED_DELIVERIES,
    webhookDisableAfterFailingMs: e.ATTESTO_WEBHOOK_DISABLE_AFTER_FAILING_MS,
    webhookProofSweepMs: e.ATTESTO_WEBHOOK_PROOF_SWEEP_MS,
    webhookDeliveryProofs: e.ATTESTO_WEBHOOK_DELIVERY_PROOFS,
    rateLimits: {
      enabled: e.ATTESTO_RATE_LIMITS,
      classes: {
        verification: envLimit("ATTESTO_RATE_LIMIT_VERIFICATION", e.ATTESTO_RATE_LIMIT_VERIFICATION),
        ingest: envLimit("ATTESTO_RATE_LIMIT_INGEST", e.ATTESTO_RATE_LIMIT_INGEST),
        reads: envLimit("ATTESTO_RATE_LIMIT_READS", e.ATTESTO_RATE_LIMIT_READS),
        default: envLimit("ATTESTO_RATE_LIMIT_DEFAULT", e.ATTESTO_RATE_LIMIT_DEFAULT),
      },
      tenants: envValue("ATTESTO_RATE_LIMIT_TENANTS", () => parseTenantLimits(e.ATTESTO_RATE_LIMIT_TENANTS)),
      redisTimeoutMs: e.ATTESTO_RATE_LIMIT_REDIS_TIMEOUT_MS,
    },
    validationAudit: {
      enabled: e.ENABLE_VALIDATION_AUDIT_LOG,
      queueSize: e.ATTESTO_VALIDATION_AUDIT_QUEUE,
      flushIntervalMs: e.ATTESTO_VALIDATION_AUDIT_FLUSH_MS,
    },
    appleRootCertFiles: e.ATTESTO_APPLE_ROOT_CERTS ? e.ATTESTO_APPLE_ROOT_CERTS.split(",").map((f) => path.resolve(f.trim())) : [path.join(projectRoot(), APPLE_ROOT_CERT)],
    appleOnlineChecks: e.ATTESTO_APPLE_ONLINE_CHECKS,
    appleOcspTimeoutMs: e.ATTESTO_APPLE_OCSP_TIMEOUT_MS,
    storeCredentialCacheMs: e.ATTESTO_STORE_CREDENTIAL_CACHE_MS,
    appleApiProductionUrl: e.ATTESTO_APPLE_API_PRODUCTION_URL,
    appleApiSandboxUrl: e.ATTESTO_APPLE_API_SANDBOX_URL,
    storeUpstreamTimeoutMs: e.ATTESTO_STORE_UPSTREAM_TIMEOUT_MS,
    storeReconcileIntervalMs: e.ATTESTO_STORE_RECONCILE_INTERVAL_MS,
    storeReconcileFirstWindowMs: e.ATTESTO_STORE_RECONCILE_FIRST_WINDOW_MS,
    googleTokenUrl: e.ATTESTO_GOOGLE_TOKEN_URL,
    googlePlayApiUrl: e.ATTESTO_GOOGLE_PLAY_API_URL,
    googleOidcJwksUrl: e.ATTESTO_GOOGLE_OIDC_JWKS_URL,
    googleOidcIssuers: e.ATTESTO_GOOGLE_OIDC_ISSUERS.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    connectorSecretOverlapMs: e.ATTESTO_CONNECTOR_SECRET_OVERLAP_MS,
    connectorCacheMs: e.ATTESTO_CONNECTOR_CACHE_MS,
    connectorStatsFlushMs: e.ATTESTO_CONNECTOR_STATS_FLUSH_MS,
    connectorAllowLoopback: e.ATTESTO_CONNECTOR_ALLOW_LOOPBACK,
    connectorS3TimeoutMs: e.ATTESTO_CONNECTOR_S3_TIMEOUT_MS,
    bundleMaxEvents: e.ATTESTO_BUNDLE_MAX_EVENTS,
    bundlePageSize: e.ATTESTO_BUNDLE_PAGE_SIZE,
    bundleChunkBytes: e.ATTESTO_BUNDLE_CHUNK_BYTES,
    bundleInlineBytes: e.ATTESTO_BUNDLE_INLINE_BYTES,
    verifyMaxBytes: e.ATTESTO_VERIFY_MAX_BYTES,
    verifier: { threads: e.ATTESTO_VERIFY_THREADS, queue: e.ATTESTO_VERIFY_QUEUE, budgetMs: e.ATTESTO_VERIFY_BUDGET_MS },
    anchorRpcUrl: e.ATTESTO_ANCHOR_RPC_URL,
    anchorChainId: e.ATTESTO_ANCHOR_CHAIN_ID,
    anchorPrivateKey: e.ATTESTO_ANCHOR_PRIVATE_KEY,
    anchorDevChain: e.ATTESTO_ANCHOR_DEV_CHAIN ?? !e.DATABASE_URL,
    anchorIntervalMs: e.ATTESTO_ANCHOR_INTERVAL_MS,
    anchorPollMs: e.ATTESTO_ANCHOR_POLL_MS,
    anchorFinality: e.ATTESTO_ANCHOR_FINALITY,
    anchorConfirmations: e.ATTESTO_ANCHOR_CONFIRMATIONS,
    anchorOrphanWindowMs: e.ATTESTO_ANCHOR_ORPHAN_WINDOW_MS,
    anchorReplaceAfterMs: e.ATTESTO_ANCHOR_REPLACE_AFTER_MS,
    anchorMaxMembers: e.ATTESTO_ANCHOR_MAX_MEMBERS,
    anchorRpcTimeoutMs: e.ATTESTO_ANCHOR_RPC_TIMEOUT_MS,
    anchorChainCheckMs: e.ATTESTO_ANCHOR_CHAIN_CHECK_MS,
    ...overrides,
  };
  return config;
}

const envLimit = (variable: string, value: string) => envValue(variable, () => parseLimit(value));

/**
 * Worker processes when ATTESTO_WORKERS is unset. Measured with
 * `npm run bench:workers` on 2 cores shared with PostgreSQL, Redis and the
 * clients (docs/architecture.md, "Several processes, one stream"): a second
 * worker served fewer appends than one, so up to 2 cores one process
 * serves. On more cores, one per core less one left to PostgreSQL and Redis
 * beside it (a rule, not measured here: measure on the machine).
 */
export function defaultWorkers(cores: number): number {
  return cores <= 2 ? 1 : cores - 1;
}
