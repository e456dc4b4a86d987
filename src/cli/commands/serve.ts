import cluster from "node:cluster";
import { InvalidArgumentError, Option, type Command } from "commander";
import { loadConfig, type Config } from "../../config.js";
import type { ConfiguredDatabase } from "../../db/open.js";
import { createLogger } from "../../logger.js";
import type { ServeSummary } from "../../server/cluster.js";
import type { Cli } from "../context.js";

/** "embedded-postgres" (the default, in the data folder) or "postgres" (DATABASE_URL). */
const databaseKind = (database: ConfiguredDatabase) => (database.embedded ? "embedded-postgres" : "postgres");

/** `attesto serve` and `attesto migrate`. */
export function registerServeCommands(program: Command, cli: Cli): void {
  program
    .command("serve")
    .description("serve the API (Connect, gRPC, gRPC-Web and HTTP on one port)")
    .addOption(new Option("--port <port>", "port to listen on (env PORT, default 8080)").argParser(Number))
    .addOption(new Option("--host <host>", "address to bind (env HOST, default 127.0.0.1)"))
    .addOption(new Option("--role <role>", "api: requests only; worker: jobs only; all: both (env ATTESTO_ROLE)").choices(["api", "worker", "all"]))
    .addOption(
      new Option("--workers <n>", "processes sharing the port (env ATTESTO_WORKERS, default 1 up to 2 cores, else cores - 1; 1: this process alone)").argParser((v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError("a whole number from 1 to 256");
        return n;
      }),
    )
    .addOption(new Option("--reconfigure", "store this instance's cross-instance settings as the deployment's instead of refusing a difference (env ATTESTO_RECONFIGURE)"))
    .action(async (opts: { port?: number; host?: string; role?: Config["role"]; workers?: number; reconfigure?: boolean }) => {
      const overrides: Partial<Config> = {};
      if (opts.reconfigure) overrides.reconfigure = true;
      if (opts.role !== undefined) overrides.role = opts.role;
      if (opts.port !== undefined) overrides.port = opts.port;
      if (opts.host !== undefined) overrides.host = opts.host;
      if (opts.workers !== undefined) overrides.workers = opts.workers;
      const config = loadConfig(process.env, overrides);
      const logger = createLogger(config.logLevel, undefined, config.logFormat);
      // Signals are taken from the start, before the server's modules load: one that arrives while the
      // server is still starting (Ctrl-C during the embedded PostgreSQL's start, say) stops it as soon
      // as that can be done cleanly, instead of Node's default, which would end this process and leave
      // what it started running.
      const worker = cluster.isWorker;
      const stopAsked = new AbortController();
      let stopServer: (() => Promise<number>) | undefined;
      let stopping = false;
      const stopNow = () => {
        if (stopping || stopServer === undefined || !stopAsked.signal.aborted) return;
        stopping = true;
        stopServer().then(
          (code) => process.exit(code),
          (err) => {
            logger.error({ err }, "unclean shutdown");
            process.exit(1);
          },
        );
      };
      const handle = (signal: string) => {
        if (stopAsked.signal.aborted) return;
        // Said once, by the process the operator runs: a cluster's workers are stopped by it (and a
        // Ctrl-C, which reaches them too, is not theirs to announce).
        if (!worker) logger.info({ signal, ...(stopServer === undefined ? { starting: true } : {}) }, "stopping");
        stopAsked.abort();
        stopNow();
      };
      process.on("SIGTERM", () => handle("SIGTERM"));
      process.on("SIGINT", () => handle("SIGINT"));
      // A closed terminal sends SIGHUP: stop as on SIGTERM (Node's default would end the process and leave the database running).
      process.on("SIGHUP", () => handle("SIGHUP"));
      const onSignals = (stop: () => Promise<number>) => {
        stopServer = stop;
        stopNow();
      };
      // Loaded here, so that the admin commands do not pay for the whole server's modules at start-up.
      const [{ startAttesto }, { runWorker, startCluster, StartStopped }] = await Promise.all([import("../../server/app.js"), import("../../server/cluster.js")]);
      const stopApp = (app: { stop(): Promise<void> }) => () => app.stop().then(() => 0);

      // A worker of `serve --workers N`: the primary prints and owns what is shared.
      if (worker) {
        const app = await runWorker(config, logger, startAttesto);
        onSignals(stopApp(app));
        return;
      }
      let summary: ServeSummary;
      if (config.workers > 1) {
        const running = await startCluster(config, logger, stopAsked.signal).catch((err: unknown) => {
          // Stopped as asked before it served: everything it started is closed.
          if (err instanceof StartStopped) process.exit(err.code);
          throw err;
        });
        summary = running.summary;
        onSignals(running.stop);
        void running.failed.then((code) => process.exit(code));
      } else {
        const app = await startAttesto(config, logger);
        summary = {
          url: app.url,
          publicBaseUrl: app.publicBaseUrl,
          publicBaseUrlSource: app.publicBaseUrlSource,
          embedded: app.database.embedded && { dir: app.database.embedded.dir, port: app.database.embedded.port },
          redisUrl: app.redis.url,
          devCredentials: app.devCredentials,
          workers: 1,
        };
        onSignals(stopApp(app));
      }
      // A stop asked for while starting is under way: "listening" would not be true for long.
      if (stopAsked.signal.aborted) return;
      printServing(cli, summary, config);
    });

  program
    .command("migrate")
    .description("apply database migrations and exit")
    .action(() => cli.withDatabase(async (database) => cli.output({ migrated: true, database: databaseKind(database) }, () => `migrations applied (${databaseKind(database)})`)));
}

/** The lines (or JSON) `serve` prints once it serves: once per server, whatever the number of workers. */
function printServing(cli: Cli, s: ServeSummary, config: Config): void {
  const redis = s.redisUrl.replace(/\/\/[^@]*@/, "//");
  const info = {
    url: s.url,
    publicBaseUrl: s.publicBaseUrl,
    publicBaseUrlSource: s.publicBaseUrlSource,
    role: config.role,
    workers: s.workers,
    protocols: ["connect", "grpc-web", "grpc (h2c)", "http/1.1"],
    database: s.embedded ? "embedded-postgres" : "postgres",
    redis,
    dataDir: config.dataDir,
    devTenant: s.devCredentials && { tenantId: s.devCredentials.tenantId, apiKey: s.devCredentials.apiKey, adminToken: s.devCredentials.adminToken },
  };
  cli.output(info, () =>
    [
      `Attesto listening on ${s.url} (HTTP/1.1 and h2c gRPC on one port; ${s.workers === 1 ? "one process" : `${s.workers} worker processes`})`,
      `  origin of new streams: ${new URL(s.publicBaseUrl).host}/proofstreams/<stream id> (public base URL ${s.publicBaseUrl}, from ${s.publicBaseUrlSource === "PUBLIC_BASE_URL" ? "PUBLIC_BASE_URL" : s.publicBaseUrlSource === "data folder" ? "the data folder; set PUBLIC_BASE_URL to change it" : "the listening address"})`,
      `  database: ${s.embedded ? `embedded PostgreSQL in ${s.embedded.dir} (127.0.0.1:${s.embedded.port})` : "postgres"}; redis: ${redis}`,
      ...(s.devCredentials
        ? [
            `  development tenant: ${s.devCredentials.tenantId}`,
            `  API key:     ${s.devCredentials.apiKey}`,
            `  admin token: ${s.devCredentials.adminToken}`,
            `  try: curl -s -H "Authorization: Bearer ${s.devCredentials.apiKey}" -H "Content-Type: application/json" -d '{}' ${s.url}/attesto.v1.TenantService/GetCurrentTenant`,
          ]
        : []),
    ].join("\n"),
  );
}
