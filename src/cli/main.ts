import { Command, Option } from "commander";
import { loadConfig, type Config } from "../config.js";
import { openConfiguredDatabase, type ConfiguredDatabase } from "../db/open.js";
import { createLogger } from "../logger.js";
import { Broadcast } from "../infra/broadcast.js";
import { answersPing, openRedis } from "../infra/redis.js";
import { Tenancy } from "../tenancy/module.js";
import { registerStoreCommands } from "./store.js";

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

/** "embedded-postgres" (the default, in the data folder) or "postgres" (DATABASE_URL). */
const databaseKind = (database: ConfiguredDatabase) => (database.embedded ? "embedded-postgres" : "postgres");

async function withDatabase<T>(run: (db: ConfiguredDatabase, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const database = await openConfiguredDatabase(config);
  try {
    return await run(database, config);
  } finally {
    await database.close();
  }
}

/**
 * The tenancy module on the local database. Revocations reach running
 * servers at once through Redis (REDIS_URL, or the one on 127.0.0.1:6379
 * when it answers); without one they follow within the key cache's lifetime.
 */
async function withTenancy<T>(run: (tenancy: Tenancy) => Promise<T>): Promise<T> {
  return withDatabase(async ({ db }, config) => {
    const logger = createLogger(config.logLevel === "info" ? "warn" : config.logLevel);
    const redisUrl = config.redisUrl ?? ((await answersPing("127.0.0.1", 6379)) ? "redis://127.0.0.1:6379" : undefined);
    const redis = redisUrl ? await openRedis({ url: redisUrl, dataDir: config.dataDir, logger }) : undefined;
    try {
      return await run(new Tenancy({ db, logger, broadcast: redis && new Broadcast(redis, logger) }, { adminToken: undefined, apiKeyCacheMs: 0 }));
    } finally {
      await redis?.close();
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
    const logger = createLogger(config.logLevel);
    // Loaded here, so that the admin commands do not pay for the whole server's modules at start-up.
    const { startAttesto } = await import("../server/app.js");
    const app = await startAttesto(config, logger);
    const info = {
      url: app.url,
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
      const { apiKey, secret } = await tenancy.issueApiKey(tenantId, opts.name);
      output({ ...apiKey, secret }, () => `issued ${apiKey.id} for ${tenantId}; the key is shown once:\n${secret}`);
    }),
  );
apikey
  .command("list <tenantId>")
  .option("--all", "include revoked keys")
  .action((tenantId: string, opts: { all?: boolean }) =>
    withTenancy(async (tenancy) => {
      const keys = await tenancy.listApiKeys(tenantId, opts.all);
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

program.parseAsync().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  if (json()) process.stderr.write(JSON.stringify({ error: message }) + "\n");
  else process.stderr.write(`attesto: ${message}\n`);
  process.exit(1);
});
