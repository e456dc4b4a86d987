import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { fastUnary, withFastUnary } from "../rpc/fast-unary.js";
import { recordRoutes } from "../rpc/fast-unary-methods.js";
import { getRequestListener } from "@hono/node-server";
import type { Config } from "../config.js";
import { Keyring } from "../crypto/keyring.js";
import { loadMasterKey } from "../crypto/master-key.js";
import { attachConfiguredDatabase, openConfiguredDatabase, type ConfiguredDatabase } from "../db/open.js";
import { databaseIdentity, defaultQueuePrefix } from "../db/identity.js";
import { createHttpApp } from "../http/app.js";
import { BOARD_PATH, mountQueueBoard } from "../http/queue-board.js";
import { mountLandingPage } from "../http/landing.js";
import { mountOpenApi } from "../http/openapi.js";
import { mountTileRoutes } from "../http/tiles.js";
import { mountVerifyRoutes, VERIFY_PATH } from "../http/verify.js";
import type { Bundles } from "../proofstream/bundles.js";
import { Proofstreams } from "../proofstream/module.js";
import { mountWebhookRoutes } from "../http/webhooks.js";
import { mountStoreRoutes } from "../http/store.js";
import { StoreVerification, storeSettings } from "../store/module.js";
import { StoreNotifications } from "../store/notifications.js";
import { Metrics } from "../http/metrics.js";
import { Broadcast } from "../infra/broadcast.js";
import { openRedis, type RedisHandle } from "../infra/redis.js";
import { mountConnectorRoutes } from "../http/connectors.js";
import { Connectors } from "../connectors/module.js";
import { Anchoring, anchoringSettings } from "../anchoring/module.js";
import { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import { rpcInterceptors, rpcRoutes } from "../rpc/routes.js";
import { ensureDevCredentials, type DevCredentials } from "../tenancy/dev-bootstrap.js";
import { Tenancy } from "../tenancy/module.js";
import { Webhooks } from "../webhooks/module.js";
import { webhookSettings } from "../webhooks/settings.js";
import { listenDual, type RequestListener } from "./listener.js";
import { withOpsRoutes } from "./ops-routes.js";
import { RateLimits } from "../ratelimit/limiter.js";
import { mountRateLimit } from "../http/rate-limit.js";
import { clientAddressKey } from "../rpc/context.js";
import { ValidationAudit } from "../store/audit.js";
import { RequestIds, requestIdSettings } from "../request-ids/module.js";
import { withEdge, type Tracker } from "./request-listener.js";
import { choosePublicBaseUrl, originPattern, readStoredPublicBaseUrl, storePublicBaseUrl, type PublicBaseUrlSource } from "./public-base-url.js";

/**
 * What the primary of `serve --workers N` (cluster.ts) opened once for all
 * its workers: a worker attaches to these instead of starting its own
 * embedded PostgreSQL, Redis or dev chain, runs no migrations and prints no
 * credentials.
 */
export interface SharedSetup {
  /** The database the primary opened and migrated (the embedded cluster's URL carries its password: never log it). */
  databaseUrl: string;
  /** The embedded PostgreSQL the primary started, on the embedded default. */
  embedded: { dir: string; port: number } | undefined;
  /** Connections of this worker's pool, within the server's budget. */
  poolSize: number;
  redisUrl: string;
  /** The dev chain the primary started; unset: no dev chain (the workers start none of their own). */
  devChainUrl: string | undefined;
  devCredentials: DevCredentials | undefined;
  /** The public base URL kept in the data folder when the primary started. */
  storedPublicBaseUrl: string | undefined;
  /** This worker's number (cluster.worker.id), in /metrics. */
  worker: number;
}

export interface Attesto {
  readonly url: string;
  readonly port: number;
  /** The public base URL in force (it names new streams' origins) and where it came from. */
  readonly publicBaseUrl: string;
  readonly publicBaseUrlSource: PublicBaseUrlSource;
  readonly database: ConfiguredDatabase;
  readonly redis: RedisHandle;
  readonly keyring: Keyring;
  readonly jobs: JobRuntime;
  readonly tenancy: Tenancy;
  readonly webhooks: Webhooks;
  readonly proofstreams: Proofstreams;
  readonly rateLimits: RateLimits;
  /** The validation audit log; store verification handlers call audit.record(...) after answering. */
  readonly audit: ValidationAudit;
  readonly store: StoreVerification;
  readonly connectors: Connectors;
  readonly bundles: Bundles;
  readonly anchoring: Anchoring;
  /** The plain HTTP routes registered (method and Hono path), for checking the OpenAPI document against them. */
  readonly httpRoutes: ReadonlyArray<{ method: string; path: string }>;
  /** Set on the embedded default only. */
  readonly devCredentials: DevCredentials | undefined;
  stop(): Promise<void>;
}

/** Opens storage, wires the modules and serves until stop(). */
export async function startAttesto(config: Config, logger: Logger, shared?: SharedSetup): Promise<Attesto> {
  const embedded = !config.databaseUrl;
  const database = shared
    ? attachConfiguredDatabase({ ...config, url: shared.databaseUrl, embedded: shared.embedded, dbPoolSize: shared.poolSize })
    : await openConfiguredDatabase(config, logger);
  const cleanups: Array<() => Promise<unknown>> = [() => database.close()];
  // Shutdown ends within the grace period even when a step hangs (with the
  // database gone first, BullMQ's worker close waits on jobs that cannot
  // finish): a step still running at the deadline is left behind, and the
  // remaining steps are started without waiting for them. The deadline keeps
  // some headroom for the process to exit before the grace period is over.
  const stopAll = async () => {
    const deadline = Date.now() + config.shutdownGraceMs - Math.min(500, config.shutdownGraceMs / 10);
    let abandoned = 0;
    for (const cleanup of cleanups.reverse()) {
      const step = cleanup().then(
        () => true,
        (err) => (logger.warn({ err }, "shutdown step failed"), true),
      );
      let timer: NodeJS.Timeout | undefined;
      const overdue = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
      const finished = await Promise.race([step, overdue]);
      clearTimeout(timer);
      if (!finished) abandoned++;
    }
    if (abandoned) throw new Error(`shutdown did not finish within ATTESTO_SHUTDOWN_GRACE_MS (${config.shutdownGraceMs} ms): ${abandoned} step(s) left running`);
  };
  try {
    // A worker's key comes from the file the primary wrote and warned about.
    const keyLogger = shared ? logger.child({}, { level: "error" }) : logger;
    const keyring = new Keyring(await loadMasterKey({ encryptionKey: config.encryptionKey, dataDir: config.dataDir, embedded, logger: keyLogger }));
    const redis = await openRedis({ url: shared?.redisUrl ?? config.redisUrl, dataDir: config.dataDir, logger });
    cleanups.push(() => redis.close());

    // Instances share queues exactly when they share a database (unless ATTESTO_QUEUE_PREFIX says otherwise).
    const queuePrefix = config.queuePrefix ?? defaultQueuePrefix(await databaseIdentity(database.db));
    const jobs = new JobRuntime({ redis, logger, role: config.role, prefix: queuePrefix });
    cleanups.push(() => jobs.close());

    const broadcast = new Broadcast(redis, logger);
    cleanups.push(() => broadcast.close());

    // The development tenant comes first: its operator token is the admin token when none is configured.
    const devCredentials = config.devTenant ? (shared ? shared.devCredentials : await ensureDevCredentials(database.db, config.dataDir)) : undefined;
    const adminToken = config.adminToken ?? devCredentials?.adminToken;
    if (!adminToken) logger.warn("ATTESTO_ADMIN_TOKEN is not set: operator calls are refused");

    // Each domain module: built from its dependencies, started, closed in reverse order.
    const requestIds = new RequestIds({ db: database.db, keyring, logger }, requestIdSettings());
    const tenancy = new Tenancy({ db: database.db, logger, broadcast, requestIds }, { adminToken, apiKeyCacheMs: config.apiKeyCacheMs });
    // The public base URL names checkpoint origins. The embedded default keeps its first one in the
    // data folder; with port 0 and none stored it is known only after listening.
    const stored = shared ? shared.storedPublicBaseUrl : embedded ? await readStoredPublicBaseUrl(config.dataDir) : undefined;
    const chooseWith = (listening: string) => choosePublicBaseUrl({ configured: config.publicBaseUrlConfigured, stored, listening, embedded });
    let publicBaseUrlChoice = chooseWith(config.publicBaseUrl);
    let publicBaseUrl = publicBaseUrlChoice.url;
    const webhooks = new Webhooks({ database, keyring, jobs, logger, requestIds }, webhookSettings(config, () => publicBaseUrl));
    let anchoringRef: Anchoring | undefined;
    const proofstreams = new Proofstreams(
      // Bundles carry anchor receipts; the anchoring module is built after this one (it reads through this facade).
      {
        db: database.db,
        keyring,
        jobs,
        logger,
        events: webhooks.events,
        requestIds,
        anchorReceipts: (streamId, treeSize) => anchoringRef?.bundleReceipts(streamId, treeSize) ?? Promise.resolve([]),
      },
      {
        publicBaseUrl: () => publicBaseUrl,
        tileCacheBytes: config.tileCacheBytes,
        headCacheMs: config.headCacheMs,
        checkpointIntervalMs: config.checkpointIntervalMs,
        selfAuditIntervalMs: config.selfAuditIntervalMs,
        selfAuditSample: config.selfAuditSample,
        selfAuditMaxLeaves: config.selfAuditMaxLeaves,
        bundles: { maxEvents: config.bundleMaxEvents, pageSize: config.bundlePageSize, chunkBytes: config.bundleChunkBytes, inlineBytes: config.bundleInlineBytes },
      },
    );
    for (const module of [requestIds, tenancy, webhooks, proofstreams]) {
      await module.start();
      cleanups.push(() => module.close());
    }

    // A worker serves only health, readiness and metrics, which are never limited.
    const rateLimits = new RateLimits(
      { redis, logger },
      { ...config.rateLimits, enabled: config.rateLimits.enabled && config.role !== "worker", keyPrefix: queuePrefix },
    );
    await rateLimits.start();
    cleanups.push(() => rateLimits.close());
    const audit = new ValidationAudit({ db: database.db, keyring, logger }, config.validationAudit);
    audit.start();
    cleanups.push(() => audit.close());

    // Each verification's audit row is taken after the answer went out.
    const store = new StoreVerification({ db: database.db, keyring, broadcast, logger, verificationObserver: audit }, storeSettings(config));
    await store.start();
    cleanups.push(() => store.close());
    const storeNotifications = new StoreNotifications(
      { db: database.db, keyring, logger, store, proofstreams, events: webhooks.events },
      { googleJwksUrl: config.googleOidcJwksUrl, googleIssuers: config.googleOidcIssuers },
    );

    const connectors = new Connectors(
      { db: database.db, keyring, appender: proofstreams, broadcast, logger },
      {
        publicBaseUrl: () => publicBaseUrl,
        secretOverlapMs: config.connectorSecretOverlapMs,
        cacheMs: config.connectorCacheMs,
        statsFlushMs: config.connectorStatsFlushMs,
        s3TimeoutMs: config.connectorS3TimeoutMs,
        policy: { allowLoopback: config.connectorAllowLoopback },
      },
    );
    await connectors.start();
    cleanups.push(() => connectors.close());

    // Workers share the primary's dev chain (anchoring on one chain per deployment), and start none of their own.
    const anchorSettings = shared ? { ...anchoringSettings(config), devChain: Boolean(shared.devChainUrl), devChainUrl: shared.devChainUrl } : anchoringSettings(config);
    const anchoring = new Anchoring({ db: database.db, keyring, jobs, logger, events: webhooks.events, proofstreams }, anchorSettings);
    anchoringRef = anchoring;
    await anchoring.start();
    cleanups.push(() => anchoring.close());

    const { bundles } = proofstreams;

    const readinessChecks = {
      database: () => database.ping(),
      redis: async () => void (await redis.client.ping()),
    };
    const metrics = new Metrics({ worker: shared?.worker ?? 0 });
    metrics.trackRateLimits(rateLimits);
    metrics.trackValidationAudit(audit);
    metrics.trackWarmStreams(proofstreams);
    const http = createHttpApp({
      logger,
      metrics,
      bodyLimitBytes: config.bodyLimitBytes,
      requestDeadlineMs: config.requestDeadlineMs,
      // POST /v2/verify takes whole bundles and enforces its own limit (ATTESTO_VERIFY_MAX_BYTES).
      ownBodyLimit: [VERIFY_PATH],
      readiness: readinessChecks,
    });
    const { authenticator } = tenancy;
    // Before the routes it guards: Hono runs middleware in the order it was added.
    mountRateLimit(http, { limits: rateLimits, authenticator });
    if (config.role !== "worker") mountWebhookRoutes(http, { authenticator, webhooks });
    if (config.role !== "worker") mountStoreRoutes(http, { store, storeNotifications, authenticator });
    if (config.role !== "worker") mountConnectorRoutes(http, { connectors, authenticator });
    mountQueueBoard(http, { jobs, authenticator, viewerToken: config.boardViewerToken });
    mountOpenApi(http);
    mountLandingPage(http, {
      links: [
        { href: "/verify", title: "Verify", about: "check a verifier bundle or a tlog-proof in the browser (nothing is uploaded)" },
        { href: "/openapi.json", title: "REST API (OpenAPI 3.1)", about: "the REST routes; the RPCs are described by the protos under proto/" },
        { href: BOARD_PATH, title: "Queue board", about: "BullMQ jobs (operator token)" },
        { href: "/healthz", title: "Health", about: "liveness; /readyz checks the database and Redis" },
        { href: "/metrics", title: "Metrics", about: "Prometheus" },
      ],
    });
    mountTileRoutes(http, { proofstreams, authenticator, public: config.tilesPublic });
    mountVerifyRoutes(http, { bundles, authenticator, publicDownloads: config.tilesPublic, verifyMaxBytes: config.verifyMaxBytes });
    const onStoreCredentialsChanged = (tenantId: string) => store.credentialsChanged(tenantId);
    const rpcDeps = {
      db: database.db,
      keyring,
      tenancy,
      logger,
      webhooks,
      proofstreams,
      rateLimits,
      onStoreCredentialsChanged,
      store,
      storeNotifications,
      connectors,
      bundles,
      anchoring,
      requestDeadlineMs: config.requestDeadlineMs,
    };
    // The services are built once: connect-node and the fast path get the same implementations.
    const routes = recordRoutes(config.role === "worker" ? () => {} : rpcRoutes(rpcDeps));
    const connectOptions: ConnectNodeAdapterOptions = {
      // A worker-role instance serves only the operational routes (health, readiness, metrics).
      routes: routes.replay,
      interceptors: rpcInterceptors(rpcDeps),
      contextValues: (req) => createContextValues().set(clientAddressKey, req.socket.remoteAddress ?? ""),
      readMaxBytes: config.bodyLimitBytes,
      // One rule for unknown fields on both surfaces: JSON names the unknown field
      // in a 400 (it catches client typos); binary keeps unknown fields (protobuf).
      jsonOptions: { ignoreUnknownFields: false },
      fallback: getRequestListener(http.fetch) as unknown as ConnectNodeAdapterOptions["fallback"],
    };
    const connectNode = connectNodeAdapter(connectOptions);
    // Connect unary POSTs skip connect-node's universal handler; everything else goes through it.
    let connect: RequestListener = connectNode as RequestListener;
    if (config.rpcFastPath) {
      const fast = fastUnary(connectOptions, routes.registrations);
      metrics.trackFastPath(fast);
      connect = withFastUnary(fast, connect);
    }
    const tracker: Tracker = { inFlight: 0 };
    // Workers also listen: health, readiness and metrics are how they are watched.
    const server = await listenDual(withEdge(withOpsRoutes(connect, { metrics, logger, readiness: readinessChecks }), { logger, metrics, corsOrigins: config.corsOrigins, tracker, rpcBodyLimitBytes: config.bodyLimitBytes }), config.host, config.port, config.connectionLimits);
    // Requests drain before the workers and connections they use are closed, within the grace
    // period less a reserve for closing those.
    cleanups.push(() => server.close(config.shutdownGraceMs - Math.min(2_000, config.shutdownGraceMs / 4)));

    const host = server.address.family === "IPv6" ? `[${server.address.address}]` : server.address.address;
    const url = `http://${host}:${server.address.port}`;
    if (publicBaseUrlChoice.source === "listening address") {
      publicBaseUrlChoice = chooseWith(url);
      publicBaseUrl = publicBaseUrlChoice.url;
    }
    if (publicBaseUrlChoice.persist) await storePublicBaseUrl(config.dataDir, publicBaseUrl);
    logger.info({ publicBaseUrl, source: publicBaseUrlChoice.source, origin: originPattern(publicBaseUrl) }, "new streams get this origin");
    return {
      url,
      port: server.address.port,
      publicBaseUrl,
      publicBaseUrlSource: publicBaseUrlChoice.source,
      httpRoutes: http.routes.filter((r) => r.method !== "ALL").map(({ method, path }) => ({ method, path })),
      jobs,
      tenancy,
      webhooks,
      proofstreams,
      rateLimits,
      audit,
      store,
      connectors,
      bundles,
      anchoring,
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
    await stopAll().catch((stopErr: Error) => logger.warn({ err: stopErr.message }, "unclean stop after a failed start"));
    throw err;
  }
}
