import { Option, type Command } from "commander";
import {
  ConnectorDiagnosticsSchema,
  ConnectorKind as ConnectorKindEnum,
  ConnectorSchema,
  GitLabConfig_TokenMode,
  type Connector as ConnectorMessage,
} from "../../../gen/ts/attesto/v1/connector_pb.js";
import type { Connector, Connectors } from "../../connectors/module.js";
import type { ConnectorKind } from "../../connectors/schema.js";
import { createLogger } from "../../logger.js";
import { localBroadcast } from "../broadcast.js";
import { dateOf, type Cli } from "../context.js";
import { allPages } from "../remote.js";
import { jsonOf } from "./remote-common.js";

const CONNECTOR_KINDS: Record<ConnectorKind, ConnectorKindEnum> = {
  signed_webhook: ConnectorKindEnum.SIGNED_WEBHOOK,
  github: ConnectorKindEnum.GITHUB,
  gitlab: ConnectorKindEnum.GITLAB,
  s3_object: ConnectorKindEnum.S3_OBJECT,
};
/** The connectors module over the configured database, keyring and Redis (revocations are broadcast). */
async function withConnectors<T>(cli: Cli, run: (connectors: Connectors) => Promise<T>): Promise<T> {
  return cli.withDatabase(async (database, config) => {
    const logger = createLogger(config.logLevel);
    const [{ Connectors }, { connectorSettings }, { openKeyring }, { appendsWithoutJobs }, { Tenancy }] = await Promise.all([
      import("../../connectors/module.js"),
      import("../../connectors/settings.js"),
      import("../../crypto/key-check.js"),
      import("../../proofstream/module.js"),
      import("../../tenancy/module.js"),
    ]);
    const keyring = await openKeyring(config, database.db, logger);
    const { broadcast, close } = await localBroadcast(config, logger);
    // Ingress URLs name the server's public base URL: the configured one, else the one the embedded default keeps.
    const { readStoredPublicBaseUrl } = await import("../../server/public-base-url.js");
    const publicBaseUrl = config.publicBaseUrlConfigured ?? (!config.databaseUrl ? await readStoredPublicBaseUrl(config.dataDir) : undefined) ?? config.publicBaseUrl;
    // The CLI has no job queue: the appends and stream reads of the Proofstreams facade alone, and a Tenancy without a key cache.
    const proofstreams = appendsWithoutJobs(database.db);
    const tenancy = new Tenancy({ db: database.db, logger, broadcast }, { adminToken: undefined, apiKeyCacheMs: 0 });
    const connectors = new Connectors(
      { db: database.db, keyring, proofstreams, tenancy, broadcast, logger },
      connectorSettings(config, () => publicBaseUrl),
    );
    try {
      return await run(connectors);
    } finally {
      await connectors.close();
      await close();
    }
  });
}

/** `attesto connector …`: on a server for the key's tenant, or with --local on the database for any tenant. */
export function registerConnectorCommands(program: Command, cli: Cli): void {
  const connector = program.command("connector").description("connectors: signed webhooks, GitHub, GitLab and S3 objects committed to a stream (remote: the key's tenant; --local: any tenant's)");
  registerCreate(connector, cli);
  registerReads(connector, cli);
  registerChanges(connector, cli);
  registerDiagnostics(connector, cli);
}

/** `connector create`: the secret is printed once. */
function registerCreate(connector: Command, cli: Cli): void {
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
      const githubEvents =
        kind === "github" && o.githubEvents
          ? String(o.githubEvents)
              .split(",")
              .map((e) => e.trim())
              .filter(Boolean)
          : undefined;
      return cli
        .onTarget(
          "tenant",
          () =>
            withConnectors(cli, async (connectors) => {
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
            await cli.ensureKeyTenant(session, tenantId);
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
        )
        .then(({ value, line, secret }) => cli.output(value, () => line + (secret ? `; the secret is shown once:\n${secret}` : "")));
    });
}

/** `connector get`, `list`. */
function registerReads(connector: Command, cli: Cli): void {
  connector
    .command("get <connectorId>")
    .description("show a connector")
    .action((id: string) =>
      cli
        .onTarget(
          "tenant",
          () =>
            withConnectors(cli, async (connectors) => {
              const c = await connectors.get(await connectors.tenantOf(id), id);
              return { value: c as unknown, line: connectorLine(c) };
            }),
          async ({ client }) => {
            const { connector: c } = await client.connectors.getConnector({ connectorId: id });
            return { value: jsonOf(ConnectorSchema, c) as unknown, line: connectorLine(connectorOf(c!)) };
          },
        )
        .then(({ value, line }) => cli.output(value, () => line)),
    );
  connector
    .command("list <tenantId>")
    .description("list a tenant's connectors")
    .option("--all", "include revoked connectors")
    .option("--stream <streamId>", "only this stream's connectors")
    .action((tenantId: string, opts: { all?: boolean; stream?: string }) =>
      cli
        .onTarget(
          "tenant",
          () =>
            withConnectors(cli, async (connectors) => {
              const all = await allPages(
                (pageToken) => connectors.list(tenantId, { pageSize: 500, pageToken, streamId: opts.stream, includeRevoked: opts.all }),
                (page) => page.connectors,
              );
              return { value: all as unknown, lines: all.map(connectorLine) };
            }),
          async (session) => {
            await cli.ensureKeyTenant(session, tenantId);
            const all = await allPages(
              (pageToken) => session.client.connectors.listConnectors({ pageSize: 500, pageToken, streamId: opts.stream, includeRevoked: opts.all ?? false }),
              (page) => page.connectors,
            );
            return { value: all.map((c) => jsonOf(ConnectorSchema, c)) as unknown, lines: all.map((c) => connectorLine(connectorOf(c))) };
          },
        )
        .then(({ value, lines }) => cli.output(value, () => lines.join("\n") || "no connectors")),
    );
}

/** `connector rotate`, `revoke`. */
function registerChanges(connector: Command, cli: Cli): void {
  connector
    .command("rotate <connectorId>")
    .description("rotate a connector's secret (webhooks) or S3 credentials; the previous secret stays valid for --overlap")
    .option("--overlap <seconds>", "how long the previous secret stays valid (default ATTESTO_CONNECTOR_SECRET_OVERLAP_MS)", Number)
    .option("--s3-access-key-id <id>", "s3_object: new access key id")
    .addHelpText("after", "\nA new S3 secret access key is read from ATTESTO_S3_SECRET_ACCESS_KEY, never from the command line.")
    .action((id: string, opts: { overlap?: number; s3AccessKeyId?: string }) => {
      const secretAccessKey = process.env.ATTESTO_S3_SECRET_ACCESS_KEY;
      return cli
        .onTarget(
          "tenant",
          () =>
            withConnectors(cli, async (connectors) => {
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
        )
        .then(({ value, secret }) => cli.output(value, () => `rotated ${id}` + (secret ? `; the new secret is shown once:\n${secret}` : "")));
    });
  connector
    .command("revoke <connectorId>")
    .description("revoke at once on every instance (broadcast through Redis)")
    .action((id: string) =>
      cli
        .onTarget(
          "tenant",
          () => withConnectors(cli, async (connectors) => (await connectors.revoke(await connectors.tenantOf(id), id)) as unknown),
          async ({ client }) => jsonOf(ConnectorSchema, (await client.connectors.revokeConnector({ connectorId: id })).connector) as unknown,
        )
        .then((value) => cli.output(value, () => `revoked ${id}`)),
    );
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

/** `connector diagnostics`: what the connector saw last. */
function registerDiagnostics(connector: Command, cli: Cli): void {
  connector
    .command("diagnostics <connectorId>")
    .description("what the connector saw last: status, last success and failure, counters")
    .action((id: string) =>
      cli
        .onTarget(
          "tenant",
          () =>
            withConnectors(cli, async (connectors) => {
              const d = await connectors.diagnostics(await connectors.tenantOf(id), id);
              return {
                value: d as unknown,
                lines: [
                  `${d.connectorId}: ${d.status}`,
                  `  last success: ${d.lastSuccessAt?.toISOString() ?? "never"}${d.lastSuccessKind ? ` (${d.lastSuccessKind})` : ""}`,
                  `  last failure: ${d.lastFailureAt?.toISOString() ?? "never"}${d.lastFailureReason ? ` (${d.lastFailureReason})` : ""}`,
                  `  counters: ${Object.entries(d.counters)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(" ")}`,
                ],
              };
            }),
          async ({ client }) => {
            const d = (await client.connectors.getConnectorDiagnostics({ connectorId: id })).diagnostics!;
            const value = jsonOf(ConnectorDiagnosticsSchema, d) as { status?: string; counters?: Record<string, unknown> };
            return {
              value: value as unknown,
              lines: [
                `${d.connectorId}: ${String(value.status ?? "")
                  .replace(/^CONNECTOR_STATUS_/, "")
                  .toLowerCase()}`,
                `  last success: ${dateOf(d.lastSuccessAt)?.toISOString() ?? "never"}${d.lastSuccessKind ? ` (${d.lastSuccessKind})` : ""}`,
                `  last failure: ${dateOf(d.lastFailureAt)?.toISOString() ?? "never"}${d.lastFailureReason ? ` (${d.lastFailureReason})` : ""}`,
                `  counters: ${Object.entries(value.counters ?? {})
                  .map(([k, v]) => `${k}=${String(v)}`)
                  .join(" ")}`,
              ],
            };
          },
        )
        .then(({ value, lines }) => cli.output(value, () => lines.join("\n"))),
    );
}
