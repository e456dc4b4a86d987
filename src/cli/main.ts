import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Command, InvalidArgumentError, Option } from "commander";
import { loadConfig, type Config } from "../config.js";
import type { ConfiguredDatabase } from "../db/open.js";
import { createLogger, type Logger } from "../logger.js";
import type { Tenancy } from "../tenancy/module.js";
import type { ApiKey } from "../tenancy/types.js";
import type { Connectors, Connector } from "../connectors/module.js";
import type { ConnectorKind } from "../connectors/schema.js";
import { registerEvidenceCommands, registerVerifyCommands } from "./evidence-commands.js";
import { localBroadcast } from "./broadcast.js";
import { registerStoreCommands } from "./store.js";
import { packageVersion } from "../paths.js";
import type { ServeSummary } from "../server/cluster.js";
import type { Tenant as TenantMessage, ApiKey as ApiKeyMessage } from "../../gen/ts/attesto/v1/tenancy_pb.js";
import type { Tenant as TenantRecord } from "../tenancy/types.js";
import { chooseTarget, requireServer, type CredentialKind, type TargetOptions } from "./target.js";
import { allPages, openSession, type RemoteSession } from "./remote.js";
import { jsonOf, registerRemoteCommands } from "./remote-commands.js";
import {
  ConnectorDiagnosticsSchema,
  ConnectorKind as ConnectorKindEnum,
  ConnectorSchema,
  GitLabConfig_TokenMode,
  type Connector as ConnectorMessage,
} from "../../gen/ts/attesto/v1/connector_pb.js";

// The database, Redis and domain modules load on use: `attesto verify` is
// offline and starts without them.

const program = new Command()
  .name("attesto")
  .description(
    "Attesto evidence service. Commands run on a server over its RPCs when one answers (--url, ATTESTO_URL, or the address serve listens on), " +
      "with the operator token from ATTESTO_ADMIN_TOKEN or a tenant key from ATTESTO_API_KEY (the embedded default's development credentials on this machine); " +
      "--local runs operator commands on the database instead.",
  )
  .version(packageVersion(), "-V, --version", "print the version")
  .option("--json", "print machine-readable JSON (and no progress bars)")
  .option("--url <url>", "the server's base URL (env ATTESTO_URL; default: the address serve listens on, if a server answers there)")
  .option("--local", "run on the database (DATABASE_URL or the embedded default) instead of a server: for bootstrap")
  .showHelpAfterError();

const json = () => Boolean(program.opts().json);
const targetOptions = (): TargetOptions => program.opts<TargetOptions>();

/**
 * Runs an operator command on a server when one is chosen (see target.ts),
 * else on the local database. Both forms print the same fields.
 */
async function onTarget<T>(kind: CredentialKind, local: () => Promise<T>, remote: (session: RemoteSession) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const target = await chooseTarget(targetOptions(), config);
  if (target.mode === "local") return local();
  if (!target.explicit && !json()) process.stderr.write(`attesto: on the server at ${target.url} (--local for the database)\n`);
  return remote(await openSession(kind, target.url, config));
}

/** A session with the server a server-only command needs. */
async function serverSession(kind: CredentialKind): Promise<RemoteSession> {
  const config = loadConfig();
  return openSession(kind, await requireServer(targetOptions(), config), config);
}

const dateOf = (t: Timestamp | undefined): Date | null => (t ? timestampDate(t) : null);
const required = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`the server's answer has no ${what}`);
  return value;
};
const tenantOf = (m: TenantMessage | undefined): TenantRecord => {
  const t = required(m, "tenant");
  return { id: t.id, name: t.name, active: t.active, createdAt: dateOf(t.createdAt)!, deactivatedAt: dateOf(t.deactivatedAt) };
};
const apiKeyOf = (m: ApiKeyMessage | undefined): ApiKey => {
  const k = required(m, "api key");
  return { id: k.id, tenantId: k.tenantId, name: k.name, prefix: k.prefix, createdAt: dateOf(k.createdAt)!, lastUsedAt: dateOf(k.lastUsedAt), revokedAt: dateOf(k.revokedAt) };
};
const tenantLine = (t: TenantRecord) => `${t.id}\t${t.active ? "active" : "inactive"}\t${t.name}`;

/** Prints a result: JSON with --json, else the human lines. */
function output(value: unknown, human: () => string): void {
  process.stdout.write((json() ? JSON.stringify(value, null, 2) : human()) + "\n");
}

/** The connectors module over the configured database, keyring and Redis (revocations are broadcast). */
async function withConnectors<T>(run: (connectors: Connectors) => Promise<T>): Promise<T> {
  return withDatabase(async (database, config) => {
    const logger = createLogger(config.logLevel);
    const [{ Connectors }, { Keyring }, { loadMasterKey }, { Appender }] = await Promise.all([
      import("../connectors/module.js"),
      import("../crypto/keyring.js"),
      import("../crypto/master-key.js"),
      import("../proofstream/append.js"),
    ]);
    const keyring = new Keyring(await loadMasterKey({ encryptionKey: config.encryptionKey, dataDir: config.dataDir, embedded: !config.databaseUrl, logger }));
    const { broadcast, close } = await localBroadcast(config, logger);
    // Ingress URLs name the server's public base URL: the configured one, else the one the embedded default keeps.
    const { readStoredPublicBaseUrl } = await import("../server/public-base-url.js");
    const publicBaseUrl = config.publicBaseUrlConfigured ?? (!config.databaseUrl ? await readStoredPublicBaseUrl(config.dataDir) : undefined) ?? config.publicBaseUrl;
    const connectors = new Connectors(
      { db: database.db, keyring, appender: new Appender(database.db), broadcast, logger },
      {
        publicBaseUrl: () => publicBaseUrl,
        secretOverlapMs: config.connectorSecretOverlapMs,
        cacheMs: config.connectorCacheMs,
        statsFlushMs: config.connectorStatsFlushMs,
        s3TimeoutMs: config.connectorS3TimeoutMs,
        policy: { allowLoopback: config.connectorAllowLoopback },
      },
    );
    try {
      return await run(connectors);
    } finally {
      await connectors.close();
      await close();
    }
  });
}

/** "embedded-postgres" (the default, in the data folder) or "postgres" (DATABASE_URL). */
const databaseKind = (database: ConfiguredDatabase) => (database.embedded ? "embedded-postgres" : "postgres");

async function withDatabase<T>(run: (db: ConfiguredDatabase, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const { openConfiguredDatabase } = await import("../db/open.js");
  const database = await openConfiguredDatabase(config);
  try {
    return await run(database, config);
  } finally {
    await database.close();
  }
}

/** The tenancy module on the local database. */
async function withTenancy<T>(run: (tenancy: Tenancy) => Promise<T>): Promise<T> {
  return withDatabase(async ({ db }, config) => {
    const logger = createLogger(config.logLevel === "info" ? "warn" : config.logLevel);
    const { broadcast, close } = await localBroadcast(config, logger);
    const [{ Tenancy }, { tenancySettings }] = await Promise.all([import("../tenancy/module.js"), import("../tenancy/settings.js")]);
    try {
      return await run(new Tenancy({ db, logger, broadcast }, tenancySettings(config)));
    } finally {
      await close();
    }
  });
}

program
  .command("serve")
  .description("serve the API (Connect, gRPC, gRPC-Web and HTTP on one port)")
  .addOption(new Option("--port <port>", "port to listen on (env PORT, default 8080)").argParser(Number))
  .addOption(new Option("--host <host>", "address to bind (env HOST, default 127.0.0.1)"))
  .addOption(new Option("--role <role>", "api: requests only; worker: jobs only; all: both (env ATTESTO_ROLE)").choices(["api", "worker", "all"]))
  .addOption(
    new Option("--workers <n>", "processes sharing the port (env ATTESTO_WORKERS, default the number of cores; 1: this process alone)").argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError("a whole number from 1 to 256");
      return n;
    }),
  )
  .action(async (opts: { port?: number; host?: string; role?: Config["role"]; workers?: number }) => {
    const overrides: Partial<Config> = {};
    if (opts.role !== undefined) overrides.role = opts.role;
    if (opts.port !== undefined) overrides.port = opts.port;
    if (opts.host !== undefined) overrides.host = opts.host;
    if (opts.workers !== undefined) overrides.workers = opts.workers;
    const config = loadConfig(process.env, overrides);
    const logger = createLogger(config.logLevel, undefined, config.logFormat);
    // Loaded here, so that the admin commands do not pay for the whole server's modules at start-up.
    const [{ startAttesto }, cluster, { runWorker, startCluster }] = await Promise.all([import("../server/app.js"), import("node:cluster"), import("../server/cluster.js")]);
    // Signals are taken from the start: one that arrives while the server is still starting
    // (Ctrl-C during the embedded PostgreSQL's start, say) stops it once it has started, instead
    // of Node's default, which would end this process and leave what it started running.
    let stopping = false;
    let stopServer: (() => Promise<number>) | undefined;
    let signalled: string | undefined;
    const handle = (signal: string) => {
      signalled ??= signal;
      if (stopping || stopServer === undefined) return;
      stopping = true;
      logger.info({ signal }, "stopping");
      stopServer().then(
        (code) => process.exit(code),
        (err) => {
          logger.error({ err }, "unclean shutdown");
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", () => handle("SIGTERM"));
    process.on("SIGINT", () => handle("SIGINT"));
    const onSignals = (stop: () => Promise<number>) => {
      stopServer = stop;
      if (signalled !== undefined) handle(signalled);
    };
    const stopApp = (app: { stop(): Promise<void> }) => () => app.stop().then(() => 0);

    // A worker of `serve --workers N`: the primary prints and owns what is shared.
    if (cluster.default.isWorker) {
      const app = await runWorker(config, logger, startAttesto);
      onSignals(stopApp(app));
      return;
    }
    let summary: ServeSummary;
    if (config.workers > 1) {
      const running = await startCluster(config, logger);
      summary = running.summary;
      onSignals(running.stop);
      running.failed.then((code) => process.exit(code));
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
    printServing(summary, config);
  });

/** The lines (or JSON) `serve` prints once it serves: once per server, whatever the number of workers. */
function printServing(s: ServeSummary, config: Config): void {
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
  output(info, () =>
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

program
  .command("migrate")
  .description("apply database migrations and exit")
  .action(() =>
    withDatabase(async (database) => output({ migrated: true, database: databaseKind(database) }, () => `migrations applied (${databaseKind(database)})`)),
  );

const tenant = program.command("tenant").description("manage tenants (operator: the server's AdminService, or the database with --local)");
tenant
  .command("create <name>")
  .description("create a tenant")
  .action((name: string) =>
    onTarget(
      "operator",
      () => withTenancy((tenancy) => tenancy.createTenant(name)),
      async ({ client }) => tenantOf((await client.admin.createTenant({ name })).tenant),
    ).then((t) => output(t, () => `created tenant ${t.id} (${t.name})`)),
  );
tenant
  .command("get <tenantId>")
  .description("show one tenant")
  .action((id: string) =>
    onTarget(
      "operator",
      () => withTenancy((tenancy) => tenancy.getTenant(id)),
      async ({ client }) => tenantOf((await client.admin.getTenant({ tenantId: id })).tenant),
    ).then((t) => output(t, () => tenantLine(t))),
  );
tenant
  .command("list")
  .description("list tenants")
  .option("--all", "include deactivated tenants")
  .action((opts: { all?: boolean }) =>
    onTarget(
      "operator",
      () =>
        withTenancy((tenancy) =>
          allPages(
            (pageToken) => tenancy.listTenants({ pageSize: 500, pageToken, includeInactive: opts.all }),
            (page) => page.tenants,
          ),
        ),
      ({ client }) =>
        allPages(
          (pageToken) => client.admin.listTenants({ pageSize: 500, pageToken, includeInactive: opts.all ?? false }),
          (page) => page.tenants.map(tenantOf),
        ),
    ).then((all) => output(all, () => all.map(tenantLine).join("\n") || "no tenants")),
  );
tenant
  .command("deactivate <tenantId>")
  .description("deactivate a tenant: its keys stop working at once")
  .action((id: string) =>
    onTarget(
      "operator",
      () => withTenancy((tenancy) => tenancy.deactivateTenant(id)),
      async ({ client }) => tenantOf((await client.admin.deactivateTenant({ tenantId: id })).tenant),
    ).then((t) => output(t, () => `deactivated tenant ${t.id}`)),
  );

const apikey = program.command("apikey").description("manage tenant API keys (operator)");
apikey
  .command("create <tenantId>")
  .alias("issue")
  .description("create an API key for a tenant; the key is shown once")
  .option("--name <name>", "label for the key", "cli")
  .action((tenantId: string, opts: { name: string }) =>
    onTarget(
      "operator",
      () => withTenancy((tenancy) => tenancy.createApiKey(tenantId, opts.name, { caller: "operator" })),
      async ({ client }) => {
        const res = await client.admin.createApiKey({ tenantId, name: opts.name });
        return { apiKey: apiKeyOf(res.apiKey), secret: res.secret };
      },
    ).then(({ apiKey, secret }) => output({ ...apiKey, secret }, () => `created ${apiKey.id} for ${tenantId}; the key is shown once:\n${secret}`)),
  );
apikey
  .command("list <tenantId>")
  .description("list a tenant's API keys (never the keys themselves)")
  .option("--all", "include revoked keys")
  .action((tenantId: string, opts: { all?: boolean }) =>
    onTarget(
      "operator",
      () =>
        withTenancy((tenancy) =>
          allPages(
            (pageToken) => tenancy.listApiKeys(tenantId, { includeRevoked: opts.all ?? false, pageSize: 500, pageToken }),
            (page) => page.apiKeys,
          ),
        ),
      ({ client }) =>
        allPages(
          (pageToken) => client.admin.listApiKeys({ tenantId, includeRevoked: opts.all ?? false, pageSize: 500, pageToken }),
          (page) => page.apiKeys.map(apiKeyOf),
        ),
    ).then((keys) =>
      output(keys, () =>
        keys.map((k) => `${k.id}\t${k.prefix}…\t${k.revokedAt ? "revoked" : "active"}\t${k.name}\tlast used ${k.lastUsedAt?.toISOString() ?? "never"}`).join("\n") ||
        "no keys",
      ),
    ),
  );
apikey
  .command("revoke <apiKeyId>")
  .description("revoke an API key on every instance at once")
  .action((id: string) =>
    onTarget(
      "operator",
      () => withTenancy((tenancy) => tenancy.revokeApiKey(id)),
      async ({ client }) => apiKeyOf((await client.admin.revokeApiKey({ apiKeyId: id })).apiKey),
    ).then((key) => output(key, () => `revoked ${key.id}`)),
  );

registerStoreCommands(program, { withDatabase, output, logger: (config) => createLogger(config.logLevel), onTarget, ensureKeyTenant });
registerEvidenceCommands(program, { json, output, session: serverSession });
registerVerifyCommands(program, { json, output, session: serverSession });
registerRemoteCommands(program, { json, output, session: serverSession });
const CONNECTOR_KINDS: Record<ConnectorKind, ConnectorKindEnum> = {
  signed_webhook: ConnectorKindEnum.SIGNED_WEBHOOK,
  github: ConnectorKindEnum.GITHUB,
  gitlab: ConnectorKindEnum.GITLAB,
  s3_object: ConnectorKindEnum.S3_OBJECT,
};
const connector = program.command("connector").description("connectors: signed webhooks, GitHub, GitLab and S3 objects committed to a stream (remote: the key's tenant; --local: any tenant's)");
connector
  .command("create <tenantId>")
  .description("create a connector; its ingress URL and (for webhooks) signing secret are printed, the secret once")
  .requiredOption("--stream <streamId>", "the stream the connector commits to")
  .addOption(new Option("--kind <kind>", "what posts to it").choices(Object.keys(CONNECTOR_KINDS)).makeOptionMandatory())
  .option("--name <name>", "label", "cli")
  .option("--github-events <events>", "github: comma-separated event allow-list")
  .option("--gitlab-legacy-token", "gitlab: legacy X-Gitlab-Token mode instead of a signing token")
  .option("--s3-endpoint <url>", "s3_object: endpoint (unset for AWS S3)")
  .option("--s3-region <region>", "s3_object: region (auto for R2)")
  .option("--s3-bucket <bucket>", "s3_object: bucket")
  .option("--s3-prefix <prefix>", "s3_object: key prefix", "")
  .option("--s3-path-style", "s3_object: path-style addressing")
  .option("--s3-access-key-id <id>", "s3_object: read-only access key id")
  .addHelpText("after", "\nThe S3 secret access key is read from ATTESTO_S3_SECRET_ACCESS_KEY, never from the command line.")
  .action((tenantId: string, o: Record<string, string | boolean | undefined>) => {
    const kind = String(o.kind) as ConnectorKind;
    const secretAccessKey = process.env.ATTESTO_S3_SECRET_ACCESS_KEY ?? "";
    const s3 = {
      endpoint: o.s3Endpoint as string | undefined,
      region: String(o.s3Region ?? ""),
      bucket: String(o.s3Bucket ?? ""),
      keyPrefix: String(o.s3Prefix ?? ""),
      forcePathStyle: Boolean(o.s3PathStyle),
      accessKeyId: String(o.s3AccessKeyId ?? ""),
      secretAccessKey,
    };
    const githubEvents = kind === "github" && o.githubEvents ? String(o.githubEvents).split(",").map((e) => e.trim()).filter(Boolean) : undefined;
    return onTarget(
      "tenant",
      () =>
        withConnectors(async (connectors) => {
          const { connector: c, secret } = await connectors.create(tenantId, {
            streamId: String(o.stream),
            name: String(o.name),
            kind,
            github: githubEvents ? { events: githubEvents } : undefined,
            gitlab: kind === "gitlab" ? { tokenMode: o.gitlabLegacyToken ? "legacy_token" : "signing_token" } : undefined,
            s3: kind === "s3_object" ? s3 : undefined,
          });
          return { value: { ...c, secret } as unknown, line: `created ${c.id} (${c.kind}) posting to ${c.ingressUrl}`, secret };
        }),
      async (session) => {
        await ensureKeyTenant(session, tenantId);
        const { connector: c, secret } = await session.client.connectors.createConnector({
          streamId: String(o.stream),
          name: String(o.name),
          kind: CONNECTOR_KINDS[kind],
          config:
            kind === "github"
              ? { case: "github", value: { events: githubEvents ?? [] } }
              : kind === "gitlab"
                ? { case: "gitlab", value: { tokenMode: o.gitlabLegacyToken ? GitLabConfig_TokenMode.LEGACY_TOKEN : GitLabConfig_TokenMode.SIGNING_TOKEN } }
                : kind === "s3_object"
                  ? { case: "s3Object", value: s3 }
                  : { case: undefined },
        });
        return { value: { ...(jsonOf(ConnectorSchema, c) as object), secret } as unknown, line: `created ${c!.id} (${kind}) posting to ${c!.ingressUrl}`, secret };
      },
    ).then(({ value, line, secret }) => output(value, () => line + (secret ? `; the secret is shown once:\n${secret}` : "")));
  });
connector
  .command("get <connectorId>")
  .description("show a connector")
  .action((id: string) =>
    onTarget(
      "tenant",
      () =>
        withConnectors(async (connectors) => {
          const c = await connectors.get(await connectors.tenantOf(id), id);
          return { value: c as unknown, line: connectorLine(c) };
        }),
      async ({ client }) => {
        const { connector: c } = await client.connectors.getConnector({ connectorId: id });
        return { value: jsonOf(ConnectorSchema, c) as unknown, line: connectorLine(connectorOf(c!)) };
      },
    ).then(({ value, line }) => output(value, () => line)),
  );
connector
  .command("list <tenantId>")
  .description("list a tenant's connectors")
  .option("--all", "include revoked connectors")
  .option("--stream <streamId>", "only this stream's connectors")
  .action((tenantId: string, opts: { all?: boolean; stream?: string }) =>
    onTarget(
      "tenant",
      () =>
        withConnectors(async (connectors) => {
          const all = await allPages(
            (pageToken) => connectors.list(tenantId, { pageSize: 500, pageToken, streamId: opts.stream, includeRevoked: opts.all }),
            (page) => page.connectors,
          );
          return { value: all as unknown, lines: all.map(connectorLine) };
        }),
      async (session) => {
        await ensureKeyTenant(session, tenantId);
        const all = await allPages(
          (pageToken) => session.client.connectors.listConnectors({ pageSize: 500, pageToken, streamId: opts.stream, includeRevoked: opts.all ?? false }),
          (page) => page.connectors,
        );
        return { value: all.map((c) => jsonOf(ConnectorSchema, c)) as unknown, lines: all.map((c) => connectorLine(connectorOf(c))) };
      },
    ).then(({ value, lines }) => output(value, () => lines.join("\n") || "no connectors")),
  );
connector
  .command("rotate <connectorId>")
  .description("rotate a connector's secret (webhooks) or S3 credentials; the previous secret stays valid for --overlap")
  .option("--overlap <seconds>", "how long the previous secret stays valid (default ATTESTO_CONNECTOR_SECRET_OVERLAP_MS)", Number)
  .option("--s3-access-key-id <id>", "s3_object: new access key id")
  .addHelpText("after", "\nA new S3 secret access key is read from ATTESTO_S3_SECRET_ACCESS_KEY, never from the command line.")
  .action((id: string, opts: { overlap?: number; s3AccessKeyId?: string }) => {
    const secretAccessKey = process.env.ATTESTO_S3_SECRET_ACCESS_KEY;
    return onTarget(
      "tenant",
      () =>
        withConnectors(async (connectors) => {
          const { connector: c, secret } = await connectors.rotate(await connectors.tenantOf(id), id, {
            overlapMs: opts.overlap === undefined ? undefined : opts.overlap * 1000,
            credentials: opts.s3AccessKeyId !== undefined || secretAccessKey !== undefined ? { accessKeyId: opts.s3AccessKeyId, secretAccessKey } : undefined,
          });
          return { value: { ...c, secret } as unknown, secret };
        }),
      async ({ client }) => {
        const { connector: c, secret } = await client.connectors.rotateConnectorSecret({
          connectorId: id,
          overlap: opts.overlap === undefined ? undefined : { seconds: BigInt(Math.floor(opts.overlap)), nanos: 0 },
          accessKeyId: opts.s3AccessKeyId,
          secretAccessKey,
        });
        return { value: { ...(jsonOf(ConnectorSchema, c) as object), secret } as unknown, secret };
      },
    ).then(({ value, secret }) => output(value, () => `rotated ${id}` + (secret ? `; the new secret is shown once:\n${secret}` : "")));
  });
connector
  .command("revoke <connectorId>")
  .description("revoke at once on every instance (broadcast through Redis)")
  .action((id: string) =>
    onTarget(
      "tenant",
      () => withConnectors(async (connectors) => (await connectors.revoke(await connectors.tenantOf(id), id)) as unknown),
      async ({ client }) => jsonOf(ConnectorSchema, (await client.connectors.revokeConnector({ connectorId: id })).connector) as unknown,
    ).then((value) => output(value, () => `revoked ${id}`)),
  );
connector
  .command("diagnostics <connectorId>")
  .description("what the connector saw last: status, last success and failure, counters")
  .action((id: string) =>
    onTarget(
      "tenant",
      () =>
        withConnectors(async (connectors) => {
          const d = await connectors.diagnostics(await connectors.tenantOf(id), id);
          return {
            value: d as unknown,
            lines: [
              `${d.connectorId}: ${d.status}`,
              `  last success: ${d.lastSuccessAt?.toISOString() ?? "never"}${d.lastSuccessKind ? ` (${d.lastSuccessKind})` : ""}`,
              `  last failure: ${d.lastFailureAt?.toISOString() ?? "never"}${d.lastFailureReason ? ` (${d.lastFailureReason})` : ""}`,
              `  counters: ${Object.entries(d.counters).map(([k, v]) => `${k}=${v}`).join(" ")}`,
            ],
          };
        }),
      async ({ client }) => {
        const d = (await client.connectors.getConnectorDiagnostics({ connectorId: id })).diagnostics!;
        const value = jsonOf(ConnectorDiagnosticsSchema, d) as { status?: string; counters?: Record<string, unknown> };
        return {
          value: value as unknown,
          lines: [
            `${d.connectorId}: ${String(value.status ?? "").replace(/^CONNECTOR_STATUS_/, "").toLowerCase()}`,
            `  last success: ${dateOf(d.lastSuccessAt)?.toISOString() ?? "never"}${d.lastSuccessKind ? ` (${d.lastSuccessKind})` : ""}`,
            `  last failure: ${dateOf(d.lastFailureAt)?.toISOString() ?? "never"}${d.lastFailureReason ? ` (${d.lastFailureReason})` : ""}`,
            `  counters: ${Object.entries(value.counters ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(" ")}`,
          ],
        };
      },
    ).then(({ value, lines }) => output(value, () => lines.join("\n"))),
  );

/** Remote connector commands act for the API key's tenant: a tenant id that is not the key's is refused, not ignored. */
async function ensureKeyTenant(session: RemoteSession, tenantId: string): Promise<void> {
  const { tenant: t } = await session.client.tenant.getCurrentTenant({});
  if (t?.id !== tenantId) throw new Error(`the key from ${session.credential.source} belongs to tenant ${t?.id ?? "?"}, not ${tenantId}`);
}

const connectorOf = (c: ConnectorMessage) => ({
  id: c.id,
  kind: (Object.entries(CONNECTOR_KINDS).find(([, v]) => v === c.kind)?.[0] ?? "unknown") as string,
  revokedAt: dateOf(c.revokedAt),
  streamId: c.streamId,
  name: c.name,
  ingressUrl: c.ingressUrl,
});
const connectorLine = (c: Pick<Connector, "id" | "revokedAt" | "streamId" | "name" | "ingressUrl"> & { kind: string }) =>
  `${c.id}\t${c.kind}\t${c.revokedAt ? "revoked" : "active"}\t${c.streamId}\t${c.name}\t${c.ingressUrl}`;

program.parseAsync().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  if (json()) process.stderr.write(JSON.stringify({ error: message }) + "\n");
  else process.stderr.write(`attesto: ${message}\n`);
  process.exit(1);
});
