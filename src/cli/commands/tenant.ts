import type { Command } from "commander";
import type { ApiKey as ApiKeyMessage, Tenant as TenantMessage } from "../../../gen/ts/attesto/v1/tenancy_pb.js";
import type { ApiKey, Tenant } from "../../tenancy/types.js";
import { dateOf, required, type Cli } from "../context.js";
import { allPages } from "../remote.js";

const tenantOf = (m: TenantMessage | undefined): Tenant => {
  const t = required(m, "tenant");
  return { id: t.id, name: t.name, active: t.active, createdAt: dateOf(t.createdAt)!, deactivatedAt: dateOf(t.deactivatedAt) };
};
const apiKeyOf = (m: ApiKeyMessage | undefined): ApiKey => {
  const k = required(m, "api key");
  return { id: k.id, tenantId: k.tenantId, name: k.name, prefix: k.prefix, createdAt: dateOf(k.createdAt)!, lastUsedAt: dateOf(k.lastUsedAt), revokedAt: dateOf(k.revokedAt) };
};
const tenantLine = (t: Tenant) => `${t.id}\t${t.active ? "active" : "inactive"}\t${t.name}`;

/** `attesto tenant …` and `attesto apikey …` (operator). */
export function registerTenantCommands(program: Command, cli: Cli): void {
  registerTenantGroup(program, cli);
  registerApiKeyGroup(program, cli);
}

/** `attesto tenant create|get|list|deactivate`. */
function registerTenantGroup(program: Command, cli: Cli): void {
  const tenant = program.command("tenant").description("manage tenants (operator: the server's AdminService, or the database with --local)");
  tenant
    .command("create <name>")
    .description("create a tenant")
    .action((name: string) =>
      cli
        .onTarget(
          "operator",
          () => cli.withTenancy((tenancy) => tenancy.createTenant(name)),
          async ({ client }) => tenantOf((await client.admin.createTenant({ name })).tenant),
        )
        .then((t) => cli.output(t, () => `created tenant ${t.id} (${t.name})`)),
    );
  tenant
    .command("get <tenantId>")
    .description("show one tenant")
    .action((id: string) =>
      cli
        .onTarget(
          "operator",
          () => cli.withTenancy((tenancy) => tenancy.getTenant(id)),
          async ({ client }) => tenantOf((await client.admin.getTenant({ tenantId: id })).tenant),
        )
        .then((t) => cli.output(t, () => tenantLine(t))),
    );
  tenant
    .command("list")
    .description("list tenants")
    .option("--all", "include deactivated tenants")
    .action((opts: { all?: boolean }) =>
      cli
        .onTarget(
          "operator",
          () =>
            cli.withTenancy((tenancy) =>
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
        )
        .then((all) => cli.output(all, () => all.map(tenantLine).join("\n") || "no tenants")),
    );
  tenant
    .command("deactivate <tenantId>")
    .description("deactivate a tenant: its keys stop working at once")
    .action((id: string) =>
      cli
        .onTarget(
          "operator",
          () => cli.withTenancy((tenancy) => tenancy.deactivateTenant(id)),
          async ({ client }) => tenantOf((await client.admin.deactivateTenant({ tenantId: id })).tenant),
        )
        .then((t) => cli.output(t, () => `deactivated tenant ${t.id}`)),
    );
}

/** `attesto apikey create|list|revoke`: a key is shown once, at its creation. */
function registerApiKeyGroup(program: Command, cli: Cli): void {
  const apikey = program.command("apikey").description("manage tenant API keys (operator)");
  apikey
    .command("create <tenantId>")
    .alias("issue")
    .description("create an API key for a tenant; the key is shown once")
    .option("--name <name>", "label for the key", "cli")
    .action((tenantId: string, opts: { name: string }) =>
      cli
        .onTarget(
          "operator",
          () => cli.withTenancy((tenancy) => tenancy.createApiKey(tenantId, opts.name, { caller: "operator" })),
          async ({ client }) => {
            const res = await client.admin.createApiKey({ tenantId, name: opts.name });
            return { apiKey: apiKeyOf(res.apiKey), secret: res.secret };
          },
        )
        .then(({ apiKey, secret }) => cli.output({ ...apiKey, secret }, () => `created ${apiKey.id} for ${tenantId}; the key is shown once:\n${secret}`)),
    );
  apikey
    .command("list <tenantId>")
    .description("list a tenant's API keys (never the keys themselves)")
    .option("--all", "include revoked keys")
    .action((tenantId: string, opts: { all?: boolean }) =>
      cli
        .onTarget(
          "operator",
          () =>
            cli.withTenancy((tenancy) =>
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
        )
        .then((keys) =>
          cli.output(
            keys,
            () => keys.map((k) => `${k.id}\t${k.prefix}…\t${k.revokedAt ? "revoked" : "active"}\t${k.name}\tlast used ${k.lastUsedAt?.toISOString() ?? "never"}`).join("\n") || "no keys",
          ),
        ),
    );
  apikey
    .command("revoke <apiKeyId>")
    .description("revoke an API key on every instance at once")
    .action((id: string) =>
      cli
        .onTarget(
          "operator",
          () => cli.withTenancy((tenancy) => tenancy.revokeApiKey(id)),
          async ({ client }) => apiKeyOf((await client.admin.revokeApiKey({ apiKeyId: id })).apiKey),
        )
        .then((key) => cli.output(key, () => `revoked ${key.id}`)),
    );
}
