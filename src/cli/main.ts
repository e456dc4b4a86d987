import { Command, Option } from "commander";
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

// The database, Redis and domain modules load on use: `attesto verify` is
// offline and starts without them.

const program = new Command()
  .name("attesto")
  .description("Attesto evidence service")
  .option("--json", "print machine-readable JSON")
  .showHelpAfterError();

const json = () => Boolean(program.opts().json);

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
    const { Tenancy } = await import("../tenancy/module.js");
    try {
      return await run(new Tenancy({ db, logger, broadcast }, { adminToken: undefined, apiKeyCacheMs: 0 }));
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
  .action(async (opts: { port?: number; host?: string; role?: Config["role"] }) => {
    const overrides: Partial<Config> = {};
    if (opts.role !== undefined) overrides.role = opts.role;
    if (opts.port !== undefined) overrides.port = opts.port;
    if (opts.host !== undefined) overrides.host = opts.host;
    const config = loadConfig(process.env, overrides);
    const logger = createLogger(config.logLevel, undefined, config.logFormat);
    // Loaded here, so that the admin commands do not pay for the whole server's modules at start-up.
    const { startAttesto } = await import("../server/app.js");
    const app = await startAttesto(config, logger);
    const info = {
      url: app.url,
      publicBaseUrl: app.publicBaseUrl,
      publicBaseUrlSource: app.publicBaseUrlSource,
      role: config.role,
      protocols: ["connect", "grpc-web", "grpc (h2c)", "http/1.1"],
      database: databaseKind(app.database),
      redis: app.redis.url.replace(/\/\/[^@]*@/, "//"),
      dataDir: config.dataDir,
      devTenant: app.devCredentials && { tenantId: app.devCredentials.tenantId, apiKey: app.devCredentials.apiKey, adminToken: app.devCredentials.adminToken },
    };
    output(info, () =>
      [
        `Attesto listening on ${app.url} (HTTP/1.1 and h2c gRPC on one port)`,
        `  origin of new streams: ${new URL(app.publicBaseUrl).host}/proofstreams/<stream id> (public base URL ${app.publicBaseUrl}, from ${app.publicBaseUrlSource === "PUBLIC_BASE_URL" ? "PUBLIC_BASE_URL" : app.publicBaseUrlSource === "data folder" ? "the data folder; set PUBLIC_BASE_URL to change it" : "the listening address"})`,
        `  database: ${app.database.embedded ? `embedded PostgreSQL in ${app.database.embedded.dir} (127.0.0.1:${app.database.embedded.port})` : "postgres"}; redis: ${info.redis}`,
        ...(app.devCredentials
          ? [
              `  development tenant: ${app.devCredentials.tenantId}`,
              `  API key:     ${app.devCredentials.apiKey}`,
              `  admin token: ${app.devCredentials.adminToken}`,
              `  try: curl -s -H "Authorization: Bearer ${app.devCredentials.apiKey}" -H "Content-Type: application/json" -d '{}' ${app.url}/attesto.v1.TenantService/GetCurrentTenant`,
            ]
          : []),
      ].join("\n"),
    );
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, "stopping");
      app.stop().then(
        () => process.exit(0),
        (err) => {
          logger.error({ err }, "unclean shutdown");
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });

program
  .command("migrate")
  .description("apply database migrations and exit")
  .action(() =>
    withDatabase(async (database) => output({ migrated: true, database: databaseKind(database) }, () => `migrations applied (${databaseKind(database)})`)),
  );

const tenant = program.command("tenant").description("manage tenants");
tenant
  .command("create <name>")
  .action((name: string) =>
    withTenancy(async (tenancy) => {
      const t = await tenancy.createTenant(name);
      output(t, () => `created tenant ${t.id} (${t.name})`);
    }),
  );
tenant
  .command("list")
  .option("--all", "include deactivated tenants")
  .action((opts: { all?: boolean }) =>
    withTenancy(async (tenancy) => {
      const all: Awaited<ReturnType<Tenancy["listTenants"]>>["tenants"] = [];
      let pageToken = "";
      do {
        const page = await tenancy.listTenants({ pageSize: 500, pageToken, includeInactive: opts.all });
        all.push(...page.tenants);
        pageToken = page.nextPageToken;
      } while (pageToken);
      output(all, () => all.map((t) => `${t.id}\t${t.active ? "active" : "inactive"}\t${t.name}`).join("\n") || "no tenants");
    }),
  );
tenant
  .command("deactivate <tenantId>")
  .action((id: string) =>
    withTenancy(async (tenancy) => {
      const t = await tenancy.deactivateTenant(id);
      output(t, () => `deactivated tenant ${t.id}`);
    }),
  );

const apikey = program.command("apikey").description("manage tenant API keys");
apikey
  .command("issue <tenantId>")
  .option("--name <name>", "label for the key", "cli")
  .action((tenantId: string, opts: { name: string }) =>
    withTenancy(async (tenancy) => {
      const { apiKey, secret } = await tenancy.createApiKey(tenantId, opts.name, { caller: "operator" });
      output({ ...apiKey, secret }, () => `issued ${apiKey.id} for ${tenantId}; the key is shown once:\n${secret}`);
    }),
  );
apikey
  .command("list <tenantId>")
  .option("--all", "include revoked keys")
  .action((tenantId: string, opts: { all?: boolean }) =>
    withTenancy(async (tenancy) => {
      const keys: ApiKey[] = [];
      let pageToken = "";
      do {
        const page = await tenancy.listApiKeys(tenantId, { includeRevoked: opts.all ?? false, pageSize: 500, pageToken });
        keys.push(...page.apiKeys);
        pageToken = page.nextPageToken;
      } while (pageToken);
      output(keys, () =>
        keys.map((k) => `${k.id}\t${k.prefix}…\t${k.revokedAt ? "revoked" : "active"}\t${k.name}\tlast used ${k.lastUsedAt?.toISOString() ?? "never"}`).join("\n") ||
        "no keys",
      );
    }),
  );
apikey
  .command("revoke <apiKeyId>")
  .action((id: string) =>
    withTenancy(async (tenancy) => {
      const key = await tenancy.revokeApiKey(id);
      output(key, () => `revoked ${key.id}`);
    }),
  );

registerStoreCommands(program, { withDatabase, output, logger: (config) => createLogger(config.logLevel) });
registerEvidenceCommands(program, { json, output });
registerVerifyCommands(program, { json, output });
const connector = program.command("connector").description("manage connectors (operator: any tenant's)");
connector
  .command("create <tenantId>")
  .requiredOption("--stream <streamId>", "the stream the connector commits to")
  .requiredOption("--kind <kind>", "signed_webhook | github | gitlab | s3_object")
  .option("--name <name>", "label", "cli")
  .option("--github-events <events>", "github: comma-separated event allow-list")
  .option("--gitlab-legacy-token", "gitlab: legacy X-Gitlab-Token mode instead of a signing token")
  .option("--s3-endpoint <url>", "s3_object: endpoint (unset for AWS S3)")
  .option("--s3-region <region>", "s3_object: region (auto for R2)")
  .option("--s3-bucket <bucket>", "s3_object: bucket")
  .option("--s3-prefix <prefix>", "s3_object: key prefix", "")
  .option("--s3-path-style", "s3_object: path-style addressing")
  .option("--s3-access-key-id <id>", "s3_object: read-only access key id")
  .option("--s3-secret-access-key <key>", "s3_object: secret access key (or env ATTESTO_S3_SECRET_ACCESS_KEY)")
  .action((tenantId: string, o: Record<string, string | boolean | undefined>) =>
    withConnectors(async (connectors) => {
      const kind = String(o.kind) as ConnectorKind;
      const { connector: c, secret } = await connectors.create(tenantId, {
        streamId: String(o.stream),
        name: String(o.name),
        kind,
        github: kind === "github" && o.githubEvents ? { events: String(o.githubEvents).split(",").map((e) => e.trim()).filter(Boolean) } : undefined,
        gitlab: kind === "gitlab" ? { tokenMode: o.gitlabLegacyToken ? "legacy_token" : "signing_token" } : undefined,
        s3:
          kind === "s3_object"
            ? {
                endpoint: o.s3Endpoint as string | undefined,
                region: String(o.s3Region ?? ""),
                bucket: String(o.s3Bucket ?? ""),
                keyPrefix: String(o.s3Prefix ?? ""),
                forcePathStyle: Boolean(o.s3PathStyle),
                accessKeyId: String(o.s3AccessKeyId ?? ""),
                secretAccessKey: String(o.s3SecretAccessKey ?? process.env.ATTESTO_S3_SECRET_ACCESS_KEY ?? ""),
              }
            : undefined,
      });
      output({ ...c, secret }, () => `created ${c.id} (${c.kind}) posting to ${c.ingressUrl}` + (secret ? `; the secret is shown once:\n${secret}` : ""));
    }),
  );
connector
  .command("get <connectorId>")
  .action((id: string) =>
    withConnectors(async (connectors) => {
      const c = await connectors.get(await connectors.tenantOf(id), id);
      output(c, () => `${c.id}\t${c.kind}\t${c.revokedAt ? "revoked" : "active"}\t${c.streamId}\t${c.name}\t${c.ingressUrl}`);
    }),
  );
connector
  .command("list <tenantId>")
  .option("--all", "include revoked connectors")
  .option("--stream <streamId>", "only this stream's connectors")
  .action((tenantId: string, opts: { all?: boolean; stream?: string }) =>
    withConnectors(async (connectors) => {
      const all: Connector[] = [];
      let pageToken = "";
      do {
        const page = await connectors.list(tenantId, { pageSize: 500, pageToken, streamId: opts.stream, includeRevoked: opts.all });
        all.push(...page.connectors);
        pageToken = page.nextPageToken;
      } while (pageToken);
      output(all, () => all.map((c) => `${c.id}\t${c.kind}\t${c.revokedAt ? "revoked" : "active"}\t${c.streamId}\t${c.name}`).join("\n") || "no connectors");
    }),
  );
connector
  .command("rotate <connectorId>")
  .option("--overlap <seconds>", "how long the previous secret stays valid (default ATTESTO_CONNECTOR_SECRET_OVERLAP_MS)", Number)
  .option("--s3-access-key-id <id>", "s3_object: new access key id")
  .option("--s3-secret-access-key <key>", "s3_object: new secret access key (or env ATTESTO_S3_SECRET_ACCESS_KEY)")
  .action((id: string, opts: { overlap?: number; s3AccessKeyId?: string; s3SecretAccessKey?: string }) =>
    withConnectors(async (connectors) => {
      const secretAccessKey = opts.s3SecretAccessKey ?? process.env.ATTESTO_S3_SECRET_ACCESS_KEY;
      const { connector: c, secret } = await connectors.rotate(await connectors.tenantOf(id), id, {
        overlapMs: opts.overlap === undefined ? undefined : opts.overlap * 1000,
        credentials: opts.s3AccessKeyId !== undefined || secretAccessKey !== undefined ? { accessKeyId: opts.s3AccessKeyId, secretAccessKey } : undefined,
      });
      output({ ...c, secret }, () => `rotated ${c.id}` + (secret ? `; the new secret is shown once:\n${secret}` : ""));
    }),
  );
connector
  .command("revoke <connectorId>")
  .description("revoke at once on every instance (broadcast through Redis)")
  .action((id: string) =>
    withConnectors(async (connectors) => {
      const c = await connectors.revoke(await connectors.tenantOf(id), id);
      output(c, () => `revoked ${c.id}`);
    }),
  );
connector
  .command("diagnostics <connectorId>")
  .action((id: string) =>
    withConnectors(async (connectors) => {
      const d = await connectors.diagnostics(await connectors.tenantOf(id), id);
      output(d, () =>
        [
          `${d.connectorId}: ${d.status}`,
          `  last success: ${d.lastSuccessAt?.toISOString() ?? "never"}${d.lastSuccessKind ? ` (${d.lastSuccessKind})` : ""}`,
          `  last failure: ${d.lastFailureAt?.toISOString() ?? "never"}${d.lastFailureReason ? ` (${d.lastFailureReason})` : ""}`,
          `  counters: ${Object.entries(d.counters).map(([k, v]) => `${k}=${v}`).join(" ")}`,
        ].join("\n"),
      );
    }),
  );

program.parseAsync().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  if (json()) process.stderr.write(JSON.stringify({ error: message }) + "\n");
  else process.stderr.write(`attesto: ${message}\n`);
  process.exit(1);
});
