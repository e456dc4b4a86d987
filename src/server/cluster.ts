import cluster, { type Worker } from "node:cluster";
import net from "node:net";
import { sql } from "drizzle-orm";
import { anvilBinary, startDevChain, type DevChain } from "../anchoring/module.js";
import { devChainStateFile } from "../anchoring/settings.js";
import type { Config } from "../config.js";
import { loadMasterKey } from "../crypto/master-key.js";
import { openConfiguredDatabase, type ConfiguredDatabase } from "../db/open.js";
import { openRedis, type RedisHandle } from "../infra/redis.js";
import type { Logger } from "../logger.js";
import { ensureDevCredentials } from "../tenancy/module.js";
import type { DevCredentials } from "../tenancy/dev-credentials-types.js";
import type { SharedSetup } from "./app.js";
import { afterWorkerExit, poolPerWorker } from "./cluster-plan.js";
import { assertServerRunTimeFiles } from "../run-time-files.js";
import { readStoredPublicBaseUrl, type PublicBaseUrlSource } from "./public-base-url.js";

/** Failed starts in a row of replacement workers before the primary gives up. */
const MAX_START_FAILURES = 5;
/** Signals a terminal or a supervisor sends to the whole process group when it stops the server. */
const STOP_SIGNALS = new Set(["SIGINT", "SIGTERM", "SIGHUP"]);
/** How long a worker killed by such a signal before it served waits for the same signal to reach this process. */
const TERMINAL_SIGNAL_GRACE_MS = 500;

/** What `serve` prints once it serves, whether one process or a cluster. */
export interface ServeSummary {
  url: string;
  publicBaseUrl: string;
  publicBaseUrlSource: PublicBaseUrlSource;
  embedded: { dir: string; port: number } | undefined;
  redisUrl: string;
  devCredentials: DevCredentials | undefined;
  workers: number;
}

/** Messages between the primary and a worker (over the cluster's IPC channel). */
type WorkerMessage =
  { type: "attesto:hello" } | { type: "attesto:serving"; url: string; publicBaseUrl: string; publicBaseUrlSource: PublicBaseUrlSource } | { type: "attesto:failed"; message: string };
type PrimaryMessage = { type: "attesto:setup"; setup: SharedSetup; port: number };

export interface RunningCluster {
  readonly summary: ServeSummary;
  /** Resolves with the exit code when the primary gave up on workers that keep failing to start. */
  readonly failed: Promise<number>;
  /** Forwards SIGTERM to every worker, waits for them within the grace period, then closes what the primary opened; the exit code. */
  stop(): Promise<number>;
}

/** startCluster stopped, as asked, before the server served: what was started is closed; `code` is the exit code. */
export class StartStopped extends Error {
  constructor(readonly code: number) {
    super("stopped while starting");
  }
}

/** The least time each thing the primary opened gets to close, whatever is left of the grace period. */
const SHARED_STEP_FLOOR_MS = 2_000;

/**
 * The primary of `serve --workers N` (node:cluster). It opens what must exist
 * once per server: the embedded PostgreSQL (and the migrations), Redis when
 * it starts one, the dev chain, the development credentials and encryption
 * key; then forks N workers that share the port (the primary accepts and
 * hands connections out in turn) and attach to those. A worker that dies is
 * replaced; workers that keep failing to start end the server.
 */
export async function startCluster(config: Config, logger: Logger, stopRequested?: AbortSignal): Promise<RunningCluster> {
  // Before anything starts (the embedded PostgreSQL, Redis): a missing file would fail every worker.
  assertServerRunTimeFiles(config);
  const cleanups: Array<() => Promise<unknown>> = [];
  const closeShared = (deadline: number) => closeSharedInReverse(cleanups, deadline, logger);
  let setup: Omit<SharedSetup, "worker">;
  try {
    setup = await openShared(config, logger, cleanups);
  } catch (err) {
    await closeShared(Date.now() + config.shutdownGraceMs);
    throw err;
  }
  if (stopRequested?.aborted) {
    await closeShared(Date.now() + config.shutdownGraceMs);
    throw new StartStopped(0);
  }

  const served = new Set<Worker>();
  let started = false;
  let stopping = false;
  let startFailures = 0;
  // Every worker, replacements too, listens on one concrete port: with --port 0 the port is chosen here
  // (a worker's listen(0) would share the port only while another worker still holds it).
  const port = config.port || (await freePortOn(config.host));
  let lastFailure = "";
  let giveUp!: (message: string) => void;
  const gaveUp = new Promise<string>((resolve) => (giveUp = resolve));
  let first!: (summary: ServeSummary) => void;
  const firstServing = new Promise<ServeSummary>((resolve) => (first = resolve));
  let serving = 0;

  const fork = () => {
    const worker = cluster.fork();
    worker.on("message", (message: WorkerMessage) => {
      if (message.type === "attesto:hello") {
        worker.send({ type: "attesto:setup", setup: { ...setup, worker: worker.id }, port } satisfies PrimaryMessage);
      } else if (message.type === "attesto:serving") {
        served.add(worker);
        startFailures = 0;
        logger.info({ worker: worker.id, pid: worker.process.pid }, "worker serving");
        if (!started && ++serving === config.workers) {
          started = true;
          first({ ...message, embedded: setup.embedded, redisUrl: setup.redisUrl, devCredentials: setup.devCredentials, workers: config.workers });
        }
      } else if (message.type === "attesto:failed") {
        lastFailure = message.message;
      }
    });
    worker.once("exit", (code, signal) => {
      const wasServing = served.delete(worker);
      const decide = () => {
        // A stop asked for while starting: a Ctrl-C reaches the workers too, and one still loading
        // dies of it before it has a handler; that is the stop, not a failed start.
        const next = afterWorkerExit({ stopping: stopping || Boolean(stopRequested?.aborted), served: wasServing, started, startFailures, maxStartFailures: MAX_START_FAILURES });
        if (next.action === "none") return;
        logger.warn({ worker: worker.id, pid: worker.process.pid, code, signal }, wasServing ? "worker died: starting a replacement" : "worker failed to start");
        if (!wasServing) startFailures++;
        if (next.action === "give-up") giveUp(lastFailure || `a worker exited with ${signal ?? `code ${code}`} before it served`);
        else setTimeout(() => !stopping && fork(), next.delayMs).unref();
      };
      // The same signal reaches this process too, but its handler may run a moment after the worker's
      // exit is seen (both arrive as events): give it that moment before calling the exit a failed start.
      if (!wasServing && signal !== null && STOP_SIGNALS.has(signal) && !stopping && !stopRequested?.aborted) setTimeout(decide, TERMINAL_SIGNAL_GRACE_MS);
      else decide();
    });
  };

  // The workers drain within the grace period less a reserve for what the primary closes after them.
  const stop = async () => {
    const end = Date.now() + config.shutdownGraceMs - Math.min(500, config.shutdownGraceMs / 10);
    stopping = true;
    const clean = await stopWorkers(end - Math.min(1_000, config.shutdownGraceMs / 5), logger);
    await closeShared(end);
    return clean ? 0 : 1;
  };

  for (let i = 0; i < config.workers; i++) fork();
  const stopAsked = new Promise<{ stopRequested: true }>((resolve) => {
    if (stopRequested?.aborted) resolve({ stopRequested: true });
    stopRequested?.addEventListener("abort", () => resolve({ stopRequested: true }), { once: true });
  });
  const outcome = await Promise.race([firstServing, gaveUp.then((message) => ({ failed: message })), stopAsked]);
  if ("stopRequested" in outcome) throw new StartStopped(await stop());
  if ("failed" in outcome) {
    await stop();
    throw new Error(outcome.failed);
  }
  return {
    summary: outcome,
    failed: gaveUp.then(async (message) => {
      logger.error({ reason: message }, `workers keep failing to start (${MAX_START_FAILURES} in a row): stopping`);
      await stop();
      return 1;
    }),
    stop,
  };
}

/**
 * Opens what exists once per server, registering how to close each in `cleanups`: the database (the
 * embedded cluster started, the migrations applied), the development key, Redis, the development
 * credentials and the dev chain; what the workers are told of them.
 */
async function openShared(config: Config, logger: Logger, cleanups: Array<() => Promise<unknown>>): Promise<Omit<SharedSetup, "worker">> {
  // Opened here once: starts the embedded cluster (or checks DATABASE_URL) and applies the migrations before any worker starts.
  const database: ConfiguredDatabase = await openConfiguredDatabase({ ...config, dbPoolSize: 2 }, logger);
  cleanups.push(() => database.close());
  const poolSize = await connectionBudget(database, config, logger);
  // Creates the embedded default's development key once (workers would race to create it).
  await loadMasterKey({ encryptionKey: config.encryptionKey, dataDir: config.dataDir, embedded: !config.databaseUrl, logger });
  const redis: RedisHandle = await openRedis({ url: config.redisUrl, sentinel: config.redisSentinel, dataDir: config.dataDir, logger });
  cleanups.push(() => redis.close());
  const devCredentials = config.devTenant ? await ensureDevCredentials(database.db, config.dataDir) : undefined;
  let devChain: DevChain | undefined;
  if (!config.anchorRpcUrl && config.anchorDevChain && config.role !== "api" && anvilBinary()) {
    try {
      devChain = await startDevChain({ stateFile: devChainStateFile(config) });
      cleanups.push(() => devChain!.stop());
    } catch (err) {
      logger.warn({ err: (err as Error).message }, "anchoring is off: the dev chain did not start");
    }
  }
  return {
    databaseUrl: config.databaseUrl ?? database.embedded!.url,
    embedded: database.embedded && { dir: database.embedded.dir, port: database.embedded.port },
    poolSize,
    redisUrl: redis.url,
    devChainUrl: devChain?.url,
    devCredentials,
    storedPublicBaseUrl: config.databaseUrl ? undefined : await readStoredPublicBaseUrl(config.dataDir),
  };
}

/** Closes what the primary opened, last first; empties `cleanups`. */
async function closeSharedInReverse(cleanups: Array<() => Promise<unknown>>, deadline: number, logger: Logger): Promise<void> {
  for (const cleanup of cleanups.reverse()) {
    let timer: NodeJS.Timeout | undefined;
    // Each step gets at least SHARED_STEP_FLOOR_MS, even past the deadline: a step that overran
    // must not leave the next (the embedded PostgreSQL's stop) no time at all, and running.
    await Promise.race([
      cleanup().catch((err: Error) => logger.warn({ err: err.message }, "shutdown step failed")),
      new Promise<void>((resolve) => {
        timer = setTimeout(
          () => {
            logger.warn("shutdown step cut at the deadline");
            resolve();
          },
          Math.max(SHARED_STEP_FLOOR_MS, deadline - Date.now()),
        );
      }),
    ]);
    clearTimeout(timer);
  }
  cleanups.length = 0;
}

/** Sends SIGTERM to every live worker and waits for each to exit, killing those still running at `deadline`; whether all stopped cleanly. */
async function stopWorkers(deadline: number, logger: Logger): Promise<boolean> {
  const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.process.exitCode === null && w.process.signalCode === null);
  let clean = true;
  await Promise.all(
    alive.map(
      (worker) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(
            () => {
              clean = false;
              logger.warn({ worker: worker.id, pid: worker.process.pid }, "worker still stopping at the deadline: killed");
              worker.process.kill("SIGKILL");
            },
            Math.max(0, deadline - Date.now()),
          );
          worker.process.once("exit", (code, signal) => {
            clearTimeout(timer);
            // Ended by SIGTERM or SIGINT itself: it had no handler yet, so it had started nothing to stop.
            if (code !== 0 && signal !== "SIGTERM" && signal !== "SIGINT") {
              clean = false;
              logger.warn({ worker: worker.id, pid: worker.process.pid, code, signal }, "worker stopped uncleanly");
            }
            resolve();
          });
          worker.process.kill("SIGTERM");
        }),
    ),
  );
  return clean;
}

/** A port that was free a moment ago on `host`. */
function freePortOn(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Workers × ATTESTO_DB_POOL against what the server allows. On the embedded
 * default (this server's own PostgreSQL) a pool that does not fit is shared
 * out; with DATABASE_URL other instances (or a pooler) share the server, so
 * it is only reported.
 */
async function connectionBudget(database: ConfiguredDatabase, config: Config, logger: Logger): Promise<number> {
  const [row] = (await database.db.execute(sql`
    SELECT current_setting('max_connections')::int AS max,
           current_setting('superuser_reserved_connections')::int AS reserved,
           (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS in_use`)) as unknown as Array<{ max: number; reserved: number; in_use: number }>;
  const fitted = poolPerWorker({ configured: config.dbPoolSize, workers: config.workers, maxConnections: row!.max, reserved: row!.reserved, inUse: row!.in_use });
  if (fitted === undefined) return config.dbPoolSize;
  const facts = { workers: config.workers, ATTESTO_DB_POOL: config.dbPoolSize, maxConnections: row!.max, inUse: row!.in_use };
  if (database.embedded) {
    logger.warn({ ...facts, perWorker: fitted }, "workers × ATTESTO_DB_POOL exceeds the embedded PostgreSQL's free connections: each worker gets its share");
    return fitted;
  }
  logger.warn(facts, "workers × ATTESTO_DB_POOL exceeds the PostgreSQL server's free connections: lower ATTESTO_DB_POOL or --workers, or put PgBouncer in front (docs/operator.md)");
  return config.dbPoolSize;
}

/**
 * A worker of `serve --workers N`: asks the primary for what it opened,
 * serves with it, and says when it serves (or why it could not).
 */
export async function runWorker(
  config: Config,
  logger: Logger,
  serve: (config: Config, logger: Logger, setup: SharedSetup) => Promise<{ url: string; publicBaseUrl: string; publicBaseUrlSource: PublicBaseUrlSource; stop(): Promise<void> }>,
): Promise<{ stop(): Promise<void> }> {
  const { setup, port } = await new Promise<PrimaryMessage>((resolve) => {
    const onMessage = (message: PrimaryMessage) => {
      if (message?.type !== "attesto:setup") return;
      process.off("message", onMessage);
      resolve(message);
    };
    process.on("message", onMessage);
    process.send!({ type: "attesto:hello" } satisfies WorkerMessage);
  });
  const workerLogger = logger.child({ worker: setup.worker, pid: process.pid });
  try {
    const app = await serve({ ...config, port }, workerLogger, setup);
    process.send!({ type: "attesto:serving", url: app.url, publicBaseUrl: app.publicBaseUrl, publicBaseUrlSource: app.publicBaseUrlSource } satisfies WorkerMessage);
    return app;
  } catch (err) {
    // The primary reports it (once, for every worker that fails the same way) and decides what follows.
    await new Promise<void>((resolve) => process.send!({ type: "attesto:failed", message: (err as Error).message } satisfies WorkerMessage, undefined, {}, () => resolve()));
    process.exit(1);
  }
}
