import { Command, Option } from "commander";
import { loadConfig, type Config } from "../config.js";
import type { Database } from "../db/db.js";
import { createLogger } from "../logger.js";
import { registerEvidenceCommands, registerVerifyCommands } from "./evidence-commands.js";

// The database modules load on use: `attesto verify` is offline and starts without them.
const tenancy = async () => ({ ...(await import("../tenancy/api-keys.js")), ...(await import("../tenancy/tenants.js")) });

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

async function withDatabase<T>(run: (db: Database, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const { openConfiguredDatabase } = await import("../db/open.js");
  const database = await openConfiguredDatabase(config);
  try {
    return await run(database, config);
  } finally {
    await database.close();
  }
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
      database: app.database.driver,
      redis: app.redis.url.replace(/\/\/[^@]*@/, "//"),
      dataDir: config.dataDir,
      devTenant: app.devCredentials && { tenantId: app.devCredentials.tenantId, apiKey: app.devCredentials.apiKey, adminToken: app.devCredentials.adminToken },
    };
    output(info, () =>
      [
        `Attesto listening on ${app.url} (HTTP/1.1 and h2c gRPC on one port)`,
        `  database: ${info.database}${info.database === "pglite" ? ` in ${config.dataDir}` : ""}; redis: ${info.redis}`,
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
    withDatabase(async (database) => output({ migrated: true, database: database.driver }, () => `migrations applied (${database.driver})`)),
  );

const tenant = program.command("tenant").description("manage tenants");
tenant
  .command("create <name>")
  .action((name: string) =>
    withDatabase(async ({ db }) => {
      const t = await (await tenancy()).createTenant(db, name);
      output(t, () => `created tenant ${t.id} (${t.name})`);
    }),
  );
tenant
  .command("list")
  .option("--all", "include deactivated tenants")
  .action((opts: { all?: boolean }) =>
    withDatabase(async ({ db }) => {
      const { listTenants } = await tenancy();
      const all: Awaited<ReturnType<typeof listTenants>>["tenants"] = [];
      let pageToken = "";
      do {
        const page = await listTenants(db, { pageSize: 500, pageToken, includeInactive: opts.all });
        all.push(...page.tenants);
        pageToken = page.nextPageToken;
      } while (pageToken);
      output(all, () => all.map((t) => `${t.id}\t${t.active ? "active" : "inactive"}\t${t.name}`).join("\n") || "no tenants");
    }),
  );
tenant
  .command("deactivate <tenantId>")
  .action((id: string) =>
    withDatabase(async ({ db }) => {
      const t = await (await tenancy()).deactivateTenant(db, id);
      output(t, () => `deactivated tenant ${t.id}`);
    }),
  );

const apikey = program.command("apikey").description("manage tenant API keys");
apikey
  .command("issue <tenantId>")
  .option("--name <name>", "label for the key", "cli")
  .action((tenantId: string, opts: { name: string }) =>
    withDatabase(async ({ db }) => {
      const { apiKey, secret } = await (await tenancy()).issueApiKey(db, tenantId, opts.name);
      output({ ...apiKey, secret }, () => `issued ${apiKey.id} for ${tenantId}; the key is shown once:\n${secret}`);
    }),
  );
apikey
  .command("list <tenantId>")
  .option("--all", "include revoked keys")
  .action((tenantId: string, opts: { all?: boolean }) =>
    withDatabase(async ({ db }) => {
      const keys = await (await tenancy()).listApiKeys(db, tenantId, opts.all);
      output(keys, () =>
        keys.map((k) => `${k.id}\t${k.prefix}…\t${k.revokedAt ? "revoked" : "active"}\t${k.name}\tlast used ${k.lastUsedAt?.toISOString() ?? "never"}`).join("\n") ||
        "no keys",
      );
    }),
  );
apikey
  .command("revoke <apiKeyId>")
  .action((id: string) =>
    withDatabase(async ({ db }) => {
      const { keyHash: _hash, ...key } = await (await tenancy()).revokeApiKey(db, id);
      output(key, () => `revoked ${key.id}`);
    }),
  );

registerEvidenceCommands(program, { json, output });
registerVerifyCommands(program, { json, output });

program.parseAsync().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  if (json()) process.stderr.write(JSON.stringify({ error: message }) + "\n");
  else process.stderr.write(`attesto: ${message}\n`);
  process.exit(1);
});
