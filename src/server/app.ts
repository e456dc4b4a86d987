import type { Config } from "../config.js";
import { openKeyring } from "../crypto/key-check.js";
import type { Keyring } from "../crypto/keyring.js";
import { attachConfiguredDatabase, openConfiguredDatabase, type ConfiguredDatabase } from "../db/open.js";
import { databaseIdentity, defaultQueuePrefix } from "../db/identity.js";
import { Proofstreams, type Bundles } from "../proofstream/module.js";
import { proofstreamSettings } from "../proofstream/settings.js";
import { Store } from "../store/module.js";
import { storeSettings } from "../store/settings.js";
import type { StoreVerification } from "../store/module.js";
import { Metrics } from "../http/metrics.js";
import { Witnesses } from "../witness/module.js";
import { witnessSettings } from "../witness/settings.js";
import { Timestamps } from "../timestamp/module.js";
import { timestampSettings } from "../timestamp/settings.js";
import { Broadcast } from "../infra/broadcast.js";
import { startTracing } from "../infra/tracing.js";
import { openRedis, type RedisHandle } from "../infra/redis.js";
import { Connectors } from "../connectors/module.js";
import { connectorSettings } from "../connectors/settings.js";
import { Anchoring } from "../anchoring/module.js";
import { anchoringSettings } from "../anchoring/settings.js";
import { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import type { DevCredentials } from "../tenancy/dev-credentials-types.js";
import { ensureDevCredentials, Tenancy } from "../tenancy/module.js";
import { tenancySettings } from "../tenancy/settings.js";
import { Webhooks } from "../webhooks/module.js";
import { webhookSettings } from "../webhooks/settings.js";
import { listenDual, type RequestListener } from "./listener.js";
import { httpRoutes, rpcListener } from "./edges.js";
import { stopInReverse } from "./shutdown.js";
import { withOpsRoutes } from "./ops-routes.js";
import { RateLimits } from "../ratelimit/module.js";
import { rateLimitSettings } from "../ratelimit/settings.js";
import { RequestIds } from "../request-ids/module.js";
import { requestIdSettings } from "../request-ids/settings.js";
import { Deployment } from "../deployment/module.js";
import { deploymentSettings } from "../deployment/settings.js";
import { assertServerRunTimeFiles } from "../run-time-files.js";
import type { ValidationAudit } from "../store/module.js";
import { withEdge, type Tracker } from "./request-listener.js";
import { loopUtilizationAbove, withPublicGate } from "./public-gate.js";
import { Verifier } from "../verifier/module.js";
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

/** The keyring, Redis, the job runtime and the broadcast; each one's close joins `cleanups`. */
async function openInfrastructure(config: Config, logger: Logger, database: ConfiguredDatabase, shared: SharedSetup | undefined, cleanups: Array<() => Promise<unknown>>) {
  // A worker's key comes from the file the primary wrote and warned about.
  const keyLogger = shared ? logger.child({}, { level: "error" }) : logger;
  const keyring = await openKeyring(config, database.db, keyLogger);
  // A cluster's worker uses the Redis its primary found, or, through Sentinel, asks the sentinels itself.
  const redis = await openRedis({ url: config.redisSentinel ? config.redisUrl : (shared?.redisUrl ?? config.redisUrl), sentinel: config.redisSentinel, dataDir: config.dataDir, logger });
  cleanups.push(() => redis.close());

  // Instances share queues exactly when they share a database (unless ATTESTO_QUEUE_PREFIX says otherwise).
  const queuePrefix = config.queuePrefix ?? defaultQueuePrefix(await databaseIdentity(database.db));
  const jobs = new JobRuntime({ redis, logger, role: config.role, prefix: queuePrefix });
  cleanups.push(() => jobs.close());

  const broadcast = new Broadcast(redis, logger);
  cleanups.push(() => broadcast.close());
  return { keyring, redis, queuePrefix, jobs, broadcast };
}

/** Starts a module; it is closed with the others, in reverse order. */
async function started<M extends { start(): Promise<unknown>; close(): Promise<unknown> }>(module: M, cleanups: Array<() => Promise<unknown>>): Promise<M> {
  await module.start();
  cleanups.push(() => module.close());
  return module;
}

/** /metrics, with what the modules count themselves. */
function moduleMetrics(worker: number, m: { rateLimits: RateLimits; audit: Store["audit"]; proofstreams: Proofstreams; witnesses: Witnesses; timestamps: Timestamps; webhooks: Webhooks }): Metrics {
  const metrics = new Metrics({ worker });
  metrics.trackRateLimits(m.rateLimits);
  metrics.trackValidationAudit(m.audit);
  metrics.trackWarmStreams(m.proofstreams);
  metrics.trackReceipts(m.proofstreams);
  metrics.trackPacedCheckpoints(m.proofstreams.pace);
  metrics.trackWitnesses(m.witnesses);
  metrics.trackTimestamps(m.timestamps);
  metrics.trackWebhookAutoDisable(m.webhooks.recorder);
  return metrics;
}

/** Opens storage, wires the modules and serves until stop(). */
export async function startAttesto(config: Config, logger: Logger, shared?: SharedSetup): Promise<Attesto> {
  assertServerRunTimeFiles(config);
  const embedded = !config.databaseUrl;
  // First, so that what starts next (queues, workers, interceptors) sees whether it is on; stopped last, flushing its spans.
  const stopTracing = startTracing(config.tracing);
  const database = await Promise.resolve(
    shared ? attachConfiguredDatabase({ ...config, url: shared.databaseUrl, embedded: shared.embedded, dbPoolSize: shared.poolSize }) : openConfiguredDatabase(config, logger),
  ).catch(async (err: unknown) => {
    await stopTracing();
    throw err;
  });
  const cleanups: Array<() => Promise<unknown>> = [stopTracing, () => database.close()];
  const stopAll = () => stopInReverse(cleanups, config.shutdownGraceMs, logger);
  try {
    const { keyring, redis, queuePrefix, jobs, broadcast } = await openInfrastructure(config, logger, database, shared, cleanups);
    // Before any module takes work: an instance whose settings differ from its deployment's stops here.
    await started(new Deployment({ db: database.db, keyring, logger }, deploymentSettings(config, queuePrefix)), cleanups);

    // The development tenant comes first: its operator token is the admin token when none is configured.
    const devCredentials = config.devTenant ? (shared ? shared.devCredentials : await ensureDevCredentials(database.db, config.dataDir)) : undefined;
    const tenancyConfig = tenancySettings(config, devCredentials?.adminToken);
    if (!tenancyConfig.adminToken) logger.warn("ATTESTO_ADMIN_TOKEN is not set: operator calls are refused");

    // Each domain module: built from its dependencies, started, closed in reverse order.
    const requestIds = new RequestIds({ db: database.db, keyring, logger }, requestIdSettings());
    const tenancy = new Tenancy({ db: database.db, logger, broadcast, requestIds }, tenancyConfig);
    // The public base URL names checkpoint origins. The embedded default keeps its first one in the
    // data folder; with port 0 and none stored it is known only after listening.
    const stored = shared ? shared.storedPublicBaseUrl : embedded ? await readStoredPublicBaseUrl(config.dataDir) : undefined;
    const chooseWith = (listening: string) => choosePublicBaseUrl({ configured: config.publicBaseUrlConfigured, stored, listening, embedded });
    let publicBaseUrlChoice = chooseWith(config.publicBaseUrl);
    let publicBaseUrl = publicBaseUrlChoice.url;
    // Attempts are committed to each tenant's deliveries Proofstream; that facade is built next (it emits webhook events).
    let proofstreamsRef: Proofstreams | undefined;
    const webhooks = new Webhooks(
      { db: database.db, keyring, jobs, logger, requestIds, proofstreams: () => (config.webhookDeliveryProofs ? proofstreamsRef : undefined) },
      webhookSettings(config, () => publicBaseUrl, devCredentials?.tenantId),
    );
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
        broadcast,
      },
      proofstreamSettings(config, () => publicBaseUrl),
    );
    proofstreamsRef = proofstreams;
    // Witnessing: this deployment's checkpoints sent to its witnesses, and Attesto as a witness for others.
    const witnesses = new Witnesses({ db: database.db, jobs, logger, streams: proofstreams }, witnessSettings(config));
    // The verifier threads: public documents, and the TSAs' tokens, off the event loop.
    const verifier = await started(new Verifier(config.verifier), cleanups);
    // RFC 3161: each signed checkpoint's note timestamped by the configured TSAs, from a job.
    const timestamps = new Timestamps({ jobs, logger, streams: proofstreams.timestamps, verifyToken: (token, expect) => verifier.verifyTimestampToken(token, expect) }, timestampSettings(config));
    for (const module of [requestIds, tenancy, webhooks, proofstreams, witnesses, timestamps]) {
      await module.start();
      cleanups.push(() => module.close());
    }

    const rateLimits = await started(new RateLimits({ redis, logger }, rateLimitSettings(config, queuePrefix)), cleanups);
    // Verification, inbound notifications and the audit log each verification is recorded in after its answer.
    const storeModule = await started(new Store({ db: database.db, keyring, broadcast, logger, tenancy, proofstreams, events: webhooks.events, jobs }, storeSettings(config)), cleanups);
    const { verification: store, notifications: storeNotifications, audit, appStore, googlePlay, reconciler } = storeModule;

    const connectors = await started(
      new Connectors(
        { db: database.db, keyring, proofstreams, tenancy, requestIds, broadcast, logger },
        connectorSettings(config, () => publicBaseUrl),
      ),
      cleanups,
    );

    // Workers share the primary's dev chain (anchoring on one chain per deployment), and start none of their own.
    const anchorSettings = shared ? { ...anchoringSettings(config), devChain: Boolean(shared.devChainUrl), devChainUrl: shared.devChainUrl } : anchoringSettings(config);
    const anchoring = (anchoringRef = new Anchoring({ db: database.db, keyring, jobs, logger, events: webhooks.events, proofstreams }, anchorSettings));
    await started(anchoring, cleanups);
    // Every module has registered its periodic jobs (or said it will, later): ticks may run now.
    jobs.startPeriodic();

    const readinessChecks = { database: () => database.ping(), redis: async () => void (await redis.client.ping()) };
    const metrics = moduleMetrics(shared?.worker ?? 0, { rateLimits, audit, proofstreams, witnesses, timestamps, webhooks });
    const edgeModules = {
      jobs,
      tenancy,
      webhooks,
      proofstreams,
      rateLimits,
      store,
      storeNotifications,
      appStore,
      googlePlay,
      reconciler,
      connectors,
      bundles: proofstreams.bundles,
      anchoring,
      verifier,
      witnesses,
    };
    const http = httpRoutes(config, logger, metrics, readinessChecks, edgeModules);
    const connect = rpcListener(config, logger, metrics, http, edgeModules, readinessChecks);
    const { server, tracker } = await listenEdge(config, logger, metrics, readinessChecks, connect, cleanups);

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
      ...edgeModules,
      audit,
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

/**
 * Listens with the whole edge in front of the Connect and HTTP listener: ops routes, the public
 * gate, CORS, body limits and the in-flight tracker. Workers also listen: health, readiness and
 * metrics are how they are watched.
 */
async function listenEdge(config: Config, logger: Logger, metrics: Metrics, readiness: Record<string, () => Promise<void>>, connect: RequestListener, cleanups: Array<() => Promise<unknown>>) {
  const tracker: Tracker = { inFlight: 0 };
  const loop = loopUtilizationAbove(config.publicRoutes.maxLoopUtilization);
  cleanups.push(async () => loop.stop());
  const server = await listenDual(
    withEdge(withPublicGate(withOpsRoutes(connect, { metrics, logger, readiness }), config.publicRoutes, loop.busy), {
      logger,
      metrics,
      corsOrigins: config.corsOrigins,
      tracker,
      rpcBodyLimitBytes: config.bodyLimitBytes,
    }),
    config.host,
    config.port,
    config.connectionLimits,
  );
  // Requests drain before the workers and connections they use are closed, within the grace
  // period less a reserve for closing those.
  cleanups.push(() => server.close(config.shutdownGraceMs - Math.min(2_000, config.shutdownGraceMs / 4)));
  return { server, tracker };
}
