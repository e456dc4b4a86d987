import { connectNodeAdapter } from "@connectrpc/connect-node";
import { getRequestListener } from "@hono/node-server";
import type { Config } from "../config.js";
import { Keyring } from "../crypto/keyring.js";
import { loadMasterKey } from "../crypto/master-key.js";
import type { Database } from "../db/db.js";
import { openConfiguredDatabase } from "../db/open.js";
import { createHttpApp } from "../http/app.js";
import { mountQueueBoard } from "../http/queue-board.js";
import { mountTileRoutes } from "../http/tiles.js";
import { mountVerifyRoutes, VERIFY_PATH } from "../http/verify.js";
import { Bundles } from "../proofstream/bundles.js";
import { Proofstreams } from "../proofstream/module.js";
import { emitWebhookEvent } from "../webhooks/outbox.js";
import type { WebhookEventType } from "../webhooks/events.js";
import { mountWebhookRoutes } from "../http/webhooks.js";
import { Metrics } from "../http/metrics.js";
import { openRedis, type RedisHandle } from "../infra/redis.js";
import { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import { rpcInterceptors, rpcRoutes } from "../rpc/routes.js";
import { Authenticator } from "../tenancy/authenticator.js";
import { ensureDevCredentials, type DevCredentials } from "../tenancy/dev-bootstrap.js";
import { WebhookEngine, webhookSettings } from "../webhooks/engine.js";
import { listenDual } from "./listener.js";
import { withEdge, type Tracker } from "./request-listener.js";

/** Revocations are broadcast so every instance drops its cached credentials. */
const AUTH_EVICT_CHANNEL = "attesto:auth:evict";

export interface Attesto {
  readonly url: string;
  readonly port: number;
  readonly database: Database;
  readonly redis: RedisHandle;
  readonly keyring: Keyring;
  readonly jobs: JobRuntime;
  readonly webhooks: WebhookEngine;
  readonly proofstreams: Proofstreams;
  readonly bundles: Bundles;
  /** Set on the embedded default only. */
  readonly devCredentials: DevCredentials | undefined;
  stop(): Promise<void>;
}

/** Opens storage, wires the modules and serves until stop(). */
export async function startAttesto(config: Config, logger: Logger): Promise<Attesto> {
  const embedded = !config.databaseUrl;
  const database = await openConfiguredDatabase(config);
  const cleanups: Array<() => Promise<unknown>> = [() => database.close()];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err) => logger.warn({ err }, "shutdown step failed"));
  };
  try {
    const keyring = new Keyring(await loadMasterKey({ encryptionKey: config.encryptionKey, dataDir: config.dataDir, embedded, logger }));
    const redis = await openRedis({ url: config.redisUrl, dataDir: config.dataDir, logger });
    cleanups.push(() => redis.close());

    const jobs = new JobRuntime({ redis, logger, role: config.role, prefix: config.queuePrefix });
    cleanups.push(() => jobs.close());

    const devCredentials = config.devTenant ? await ensureDevCredentials(database.db, config.dataDir) : undefined;
    const adminToken = config.adminToken ?? devCredentials?.adminToken;
    if (!adminToken) logger.warn("ATTESTO_ADMIN_TOKEN is not set: operator calls are refused");
    const authenticator = new Authenticator(database.db, { adminToken, cacheMs: config.apiKeyCacheMs, logger });

    const subscriber = redis.connect();
    await subscriber.subscribe(AUTH_EVICT_CHANNEL);
    subscriber.on("message", (_channel, keyHash: string) => authenticator.evict(keyHash || undefined));
    const onCredentialsRevoked = (keyHash?: string) => {
      authenticator.evict(keyHash);
      redis.client.publish(AUTH_EVICT_CHANNEL, keyHash ?? "").catch((err) => logger.warn({ err: err.message }, "could not broadcast a revocation"));
    };

    const webhooks = new WebhookEngine({ database, keyring, jobs, logger, settings: webhookSettings(config) });
    await webhooks.start();
    cleanups.push(() => webhooks.close());

    // The public base URL names checkpoint origins; with port 0 it is known only after listening.
    let publicBaseUrl = config.publicBaseUrl;
    const proofstreams = new Proofstreams(
      { db: database.db, keyring, logger, events: { emit: (tx, tenantId, type, data) => emitWebhookEvent(tx, tenantId, type as WebhookEventType, data) } },
      {
        publicBaseUrl: () => publicBaseUrl,
        tileCacheBytes: config.tileCacheBytes,
        headCacheMs: config.headCacheMs,
        checkpointIntervalMs: config.checkpointIntervalMs,
        selfAuditIntervalMs: config.selfAuditIntervalMs,
        selfAuditSample: config.selfAuditSample,
        selfAuditMaxLeaves: config.selfAuditMaxLeaves,
      },
    );
    await proofstreams.scheduleJobs(jobs);

    const bundles = new Bundles(
      { db: database.db, jobs, logger, proofstreams, events: proofstreams.deps.events },
      {
        publicBaseUrl: () => publicBaseUrl,
        maxEvents: config.bundleMaxEvents,
        pageSize: config.bundlePageSize,
        chunkBytes: config.bundleChunkBytes,
        inlineBytes: config.bundleInlineBytes,
      },
    );
    bundles.start();
    cleanups.push(() => bundles.close());

    const metrics = new Metrics();
    const http = createHttpApp({
      logger,
      metrics,
      bodyLimitBytes: config.bodyLimitBytes,
      // POST /v2/verify takes whole bundles and enforces its own limit (ATTESTO_VERIFY_MAX_BYTES).
      ownBodyLimit: [VERIFY_PATH],
      readiness: {
        database: () => database.ping(),
        redis: async () => void (await redis.client.ping()),
      },
    });
    if (config.role !== "worker") mountWebhookRoutes(http, { db: database.db, keyring, authenticator, webhooks });
    mountQueueBoard(http, { jobs, authenticator });
    mountTileRoutes(http, { db: database.db, proofstreams, authenticator, public: config.tilesPublic });
    mountVerifyRoutes(http, { bundles, authenticator, publicDownloads: config.tilesPublic, verifyMaxBytes: config.verifyMaxBytes });
    const rpcDeps = { db: database.db, keyring, authenticator, logger, onCredentialsRevoked, webhooks, proofstreams, bundles };
    const connect = connectNodeAdapter({
      // A worker-role instance serves only the operational routes (health, readiness, metrics).
      routes: config.role === "worker" ? () => {} : rpcRoutes(rpcDeps),
      interceptors: rpcInterceptors(rpcDeps),
      readMaxBytes: config.bodyLimitBytes,
      fallback: getRequestListener(http.fetch) as unknown as Parameters<typeof connectNodeAdapter>[0]["fallback"],
    });
    const tracker: Tracker = { inFlight: 0 };
    // Workers also listen: health, readiness and metrics are how they are watched.
    const server = await listenDual(withEdge(connect, { logger, metrics, corsOrigins: config.corsOrigins, tracker }), config.host, config.port);
    // Requests drain before the workers and connections they use are closed.
    cleanups.push(() => server.close(config.shutdownGraceMs));

    const host = server.address.family === "IPv6" ? `[${server.address.address}]` : server.address.address;
    if (!process.env.PUBLIC_BASE_URL && config.port === 0) publicBaseUrl = `http://${host}:${server.address.port}`;
    return {
      url: `http://${host}:${server.address.port}`,
      port: server.address.port,
      jobs,
      webhooks,
      proofstreams,
      bundles,
      database,
      redis,
      keyring,
      devCredentials,
      async stop() {
        logger.info({ inFlight: tracker.inFlight }, "shutting down: draining requests");
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
