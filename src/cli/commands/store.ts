import { readFile } from "node:fs/promises";
import { Option, type Command } from "commander";
import type { Config } from "../../config.js";
import { openKeyring } from "../../crypto/key-check.js";
import { localBroadcast } from "../broadcast.js";
import type { Logger } from "../../logger.js";
import type { Db } from "../../db/db.js";
import type { StoreVerification, VerifiedPurchase } from "../../store/module.js";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AppleCredentialsInfoSchema, GoogleCredentialsInfoSchema } from "../../../gen/ts/attesto/admin/v1/admin_pb.js";
import { AppleEnvironment, Store } from "../../../gen/ts/attesto/v1/common_pb.js";
import {
  PurchaseKind,
  StoreNotificationSchema,
  VerifiedPurchaseSchema,
  VerifyAppleSignedDataResponseSchema,
  VerifyAppleTransactionResponseSchema,
  VerifyGooglePurchaseResponseSchema,
  type VerifiedPurchase as VerifiedPurchaseMessage,
} from "../../../gen/ts/attesto/v1/store_pb.js";
import type { Cli } from "../context.js";
import { jsonOf } from "./remote-common.js";
import { registerAppleApiCommand } from "./store-apple.js";
import { registerGooglePlayCommands } from "./store-google.js";

/** The shared CLI context and the logger local store commands log with. */
export interface CliHelpers extends Cli {
  logger(config: Config): Logger;
}

/** What a command prints: the value for --json, the line for people. */
interface Printed {
  value: unknown;
  line: string;
}

/** The store verification facade on the local database; credential changes it makes reach running servers by broadcast. */
interface StoreContext {
  store: StoreVerification;
  db: Db;
}

/**
 * `attesto store …`: what an operator needs to debug a tenant's store
 * setup, on the same code paths as the API. Credential changes broadcast
 * an eviction, so running servers drop their cached copies at once.
 */
export function registerStoreCommands(program: Command, helpers: CliHelpers): void {
  const store = program.command("store").description("App Store and Google Play: credentials (operator), verification and notifications (remote: the key's tenant; --local: any tenant's)");
  registerCredentialCommands(store, helpers);
  registerVerifyCommands(store, helpers);
  registerNotificationCommands(store, helpers);
  registerAppleApiCommand(store, helpers, (run) => withStore(helpers, ({ store: verification }) => run(verification)));
  registerGooglePlayCommands(store, helpers, (run) => withStore(helpers, ({ store: verification, db }) => run(verification, db)));
}

/** The store verification facade on the local database, for one command. */
function withStore<T>(helpers: CliHelpers, run: (ctx: StoreContext) => Promise<T>): Promise<T> {
  return helpers.withDatabase(async (database, config) => {
    const logger = helpers.logger(config);
    const keyring = await openKeyring(config, database.db, logger);
    const { broadcast, close } = await localBroadcast(config, logger);
    // Loaded here, so that the other commands do not pay for the store's modules at start-up.
    const [{ StoreVerification }, { storeVerificationSettings }] = await Promise.all([import("../../store/module.js"), import("../../store/settings.js")]);
    const store = new StoreVerification({ db: database.db, keyring, broadcast, logger }, storeVerificationSettings(config));
    try {
      return await run({ store, db: database.db });
    } finally {
      await store.close();
      await close();
    }
  });
}

const printer =
  (helpers: CliHelpers) =>
  ({ value, line }: Printed) =>
    helpers.output(value, () => line);

/** `store put-apple`, `put-google`, `delete-credentials` (operator). */
function registerCredentialCommands(store: Command, helpers: CliHelpers): void {
  const print = printer(helpers);
  store
    .command("put-apple <tenantId>")
    .description("store a tenant's App Store Server API credentials (the .p8 is sealed)")
    .requiredOption("--bundle-id <id>", "the app's bundle id")
    .requiredOption("--key-id <id>", "the In-App Purchase key's id")
    .requiredOption("--issuer-id <id>", "the App Store Connect issuer id")
    .requiredOption("--key-file <path>", "the App Store Connect .p8 key (PEM)")
    .addOption(new Option("--environment <env>", "the App Store Server API host asked when a call names none").choices(["production", "sandbox"]).default("production"))
    .option("--accept <envs>", "the environments whose signed data and notifications are accepted, comma-separated (default: production,sandbox)", acceptedEnvironments)
    .action((tenantId: string, o: { bundleId: string; keyId: string; issuerId: string; keyFile: string; environment: "production" | "sandbox"; accept?: Array<"production" | "sandbox"> }) =>
      readFile(o.keyFile, "utf8").then((privateKeyPem) =>
        helpers
          .onTarget<Printed>(
            "operator",
            () =>
              withStore(helpers, async (ctx) => {
                const info = await ctx.store.putAppleCredentials(tenantId, {
                  bundleId: o.bundleId,
                  keyId: o.keyId,
                  issuerId: o.issuerId,
                  environment: o.environment,
                  privateKeyPem,
                  acceptedEnvironments: o.accept,
                });
                return { value: info, line: `stored Apple credentials of ${tenantId} (${info.bundleId}, ${info.environment})` };
              }),
            async ({ client }) => {
              const { apple } = await client.admin.putAppleCredentials({
                tenantId,
                bundleId: o.bundleId,
                keyId: o.keyId,
                issuerId: o.issuerId,
                privateKeyPem,
                environment: o.environment === "sandbox" ? AppleEnvironment.SANDBOX : AppleEnvironment.PRODUCTION,
                acceptedEnvironments: (o.accept ?? []).map((e) => (e === "sandbox" ? AppleEnvironment.SANDBOX : AppleEnvironment.PRODUCTION)),
              });
              return { value: jsonOf(AppleCredentialsInfoSchema, apple), line: `stored Apple credentials of ${tenantId} (${apple!.bundleId}, ${o.environment})` };
            },
          )
          .then(print),
      ),
    );

  store
    .command("put-google <tenantId>")
    .description("store a tenant's Google Play service account (sealed)")
    .requiredOption("--package-name <name>", "the app's package name")
    .requiredOption("--service-account-file <path>", "the service account key file (JSON)")
    .option("--pubsub-audience <aud>", "audience of the Pub/Sub push OIDC tokens")
    .option("--pubsub-push-email <email>", "service account of the Pub/Sub push subscription")
    .option("--auto-acknowledge", "acknowledge each verified, unacknowledged purchase at once (Google refunds one left unacknowledged for three days)")
    .action((tenantId: string, o: { packageName: string; serviceAccountFile: string; pubsubAudience?: string; pubsubPushEmail?: string; autoAcknowledge?: boolean }) =>
      readFile(o.serviceAccountFile, "utf8").then((serviceAccountJson) =>
        helpers
          .onTarget<Printed>(
            "operator",
            () =>
              withStore(helpers, async (ctx) => {
                const info = await ctx.store.putGoogleCredentials(tenantId, {
                  packageName: o.packageName,
                  serviceAccountJson,
                  pubsubAudience: o.pubsubAudience ?? null,
                  pubsubPushEmail: o.pubsubPushEmail ?? null,
                  autoAcknowledge: o.autoAcknowledge ?? false,
                });
                return { value: info, line: `stored Google credentials of ${tenantId} (${info.packageName}, ${info.clientEmail})` };
              }),
            async ({ client }) => {
              const { google } = await client.admin.putGoogleCredentials({
                tenantId,
                packageName: o.packageName,
                serviceAccountJson,
                pubsubAudience: o.pubsubAudience ?? "",
                pubsubPushEmail: o.pubsubPushEmail ?? "",
                autoAcknowledge: o.autoAcknowledge ?? false,
              });
              return { value: jsonOf(GoogleCredentialsInfoSchema, google), line: `stored Google credentials of ${tenantId} (${google!.packageName}, ${google!.clientEmail})` };
            },
          )
          .then(print),
      ),
    );

  store
    .command("delete-credentials <tenantId>")
    .description("delete a tenant's App Store or Google Play credentials")
    .addOption(new Option("--store <store>", "which store's").choices(["apple", "google"]).makeOptionMandatory())
    .action((tenantId: string, o: { store: "apple" | "google" }) =>
      helpers
        .onTarget(
          "operator",
          () =>
            withStore(helpers, async (ctx) => {
              await ctx.store.deleteCredentials(tenantId, o.store);
            }),
          async ({ client }) => {
            await client.admin.deleteStoreCredentials({ tenantId, store: o.store === "apple" ? Store.APPLE : Store.GOOGLE });
          },
        )
        .then(() => helpers.output({ deleted: true, tenantId, store: o.store }, () => `deleted the ${o.store} credentials of ${tenantId}`)),
    );
}

/** `store verify-apple`, `verify-google`, `verify-signed`. */
function registerVerifyCommands(store: Command, helpers: CliHelpers): void {
  const print = printer(helpers);
  store
    .command("verify-apple <tenantId> <transactionId>")
    .description("look a transaction up with the App Store Server API, as VerifyAppleTransaction does")
    .addOption(new Option("--environment <env>", "only this host (default: production, then sandbox)").choices(["production", "sandbox"]))
    .action((tenantId: string, transactionId: string, o: { environment?: "production" | "sandbox" }) =>
      helpers
        .onTarget<Printed>(
          "tenant",
          () =>
            withStore(helpers, async (ctx) => {
              if (!/^[0-9]{1,64}$/.test(transactionId)) throw new Error("transactionId must be digits");
              const result = await ctx.store.verifyAppleTransaction(tenantId, { transactionId, environment: o.environment });
              return { value: result, line: describe(result.purchase) };
            }),
          async (session) => {
            await helpers.ensureKeyTenant(session, tenantId);
            const res = await session.client.store.verifyAppleTransaction({ transactionId, environment: appleEnvironment(o.environment) });
            return { value: jsonOf(VerifyAppleTransactionResponseSchema, res), line: describeMessage(res.purchase) };
          },
        )
        .then(print),
    );

  store
    .command("verify-google <tenantId> <purchaseToken>")
    .description("look a purchase up with the Google Play Developer API, as VerifyGooglePurchase does")
    .addOption(new Option("--kind <kind>", "a one-time product or a subscription").choices(["product", "subscription"]).makeOptionMandatory())
    .option("--product-id <id>", "the product id (required for products)")
    .option("--package-name <name>", "the app (default: the stored credentials' package)")
    .action((tenantId: string, purchaseToken: string, o: { kind: "product" | "subscription"; productId?: string; packageName?: string }) =>
      helpers
        .onTarget<Printed>(
          "tenant",
          () =>
            withStore(helpers, async (ctx) => {
              // As the RPC: through the Google Play calls, so the tenant's auto-acknowledge option holds here too.
              const { GooglePlayCalls } = await import("../../store/module.js");
              const calls = new GooglePlayCalls(ctx.db, ctx.store, ctx.store.googlePlay);
              const result = await calls.verifyPurchase(tenantId, { purchaseToken, kind: o.kind, productId: o.productId, packageName: o.packageName });
              return { value: result, line: `${describe(result.purchase)}${result.autoAcknowledged ? " (acknowledged now)" : ""}` };
            }),
          async (session) => {
            await helpers.ensureKeyTenant(session, tenantId);
            const res = await session.client.store.verifyGooglePurchase({
              purchaseToken,
              kind: o.kind === "product" ? PurchaseKind.PRODUCT : PurchaseKind.SUBSCRIPTION,
              productId: o.productId,
              packageName: o.packageName,
            });
            return { value: jsonOf(VerifyGooglePurchaseResponseSchema, res), line: describeMessage(res.purchase) };
          },
        )
        .then(print),
    );

  store
    .command("verify-signed <tenantId> <jws>")
    .description("verify an Apple-signed JWS offline (a file path with @path, stdin with -), as VerifyAppleSignedData does")
    .addOption(new Option("--environment <env>", "the environment the data must be signed for").choices(["production", "sandbox"]))
    .action((tenantId: string, jws: string, o: { environment?: "production" | "sandbox" }) =>
      (jws === "-" ? readStdin() : jws.startsWith("@") ? readFile(jws.slice(1), "utf8") : Promise.resolve(jws)).then((text) => {
        const signedData = text.trim();
        return helpers
          .onTarget<Printed>(
            "tenant",
            () =>
              withStore(helpers, async (ctx) => {
                const result = await ctx.store.verifyAppleSignedData(tenantId, { signedData, environment: o.environment });
                return { value: result, line: `${result.kind ?? "unknown kind"}: ${describe(result.purchase)}` };
              }),
            async (session) => {
              await helpers.ensureKeyTenant(session, tenantId);
              const res = await session.client.store.verifyAppleSignedData({ signedData, environment: appleEnvironment(o.environment) });
              const value = jsonOf(VerifyAppleSignedDataResponseSchema, res) as { kind?: string };
              return { value, line: `${enumName(value.kind, "APPLE_SIGNED_DATA_KIND_") || "unknown kind"}: ${describeMessage(res.purchase)}` };
            },
          )
          .then(print);
      }),
    );
}

/** `store notifications`. */
function registerNotificationCommands(store: Command, helpers: CliHelpers): void {
  store
    .command("notifications <tenantId>")
    .description("the tenant's latest verified inbound notifications")
    .addOption(new Option("--source <source>", "only this store's").choices(["apple", "google"]))
    .option("--type <type>", "only this notification type")
    .option("--limit <n>", "how many (newest first)", (v) => Number(v), 20)
    .action((tenantId: string, o: { source?: "apple" | "google"; type?: string; limit: number }) =>
      helpers
        .onTarget<{ value: unknown; lines: string[] }>(
          "tenant",
          () =>
            helpers.withDatabase(async ({ db }) => {
              const { listStoreNotifications } = await import("../../store/module.js");
              const { notifications: rows } = await listStoreNotifications(db, tenantId, { source: o.source, type: o.type, pageSize: o.limit });
              return {
                value: rows,
                lines: rows.map((r) => `${r.signedAt.toISOString()}\t${r.source}\t${r.notificationType}${r.subtype ? `/${r.subtype}` : ""}\t${r.externalId}\t${r.streamId}#${r.seqNo}`),
              };
            }),
          async (session) => {
            await helpers.ensureKeyTenant(session, tenantId);
            const { notifications: rows } = await session.client.storeNotifications.listNotifications({
              source: o.source === "apple" ? Store.APPLE : o.source === "google" ? Store.GOOGLE : Store.UNSPECIFIED,
              notificationType: o.type ?? "",
              pageSize: o.limit,
            });
            return {
              value: rows.map((r) => jsonOf(StoreNotificationSchema, r)),
              lines: rows.map(
                (r) =>
                  `${r.signedAt ? timestampDate(r.signedAt).toISOString() : "?"}\t${r.source === Store.APPLE ? "apple" : "google"}\t${r.notificationType}${r.subtype ? `/${r.subtype}` : ""}\t${r.notificationUuid || r.messageId}\t${r.streamId}#${r.seqNo}`,
              ),
            };
          },
        )
        .then(({ value, lines }) => helpers.output(value, () => lines.join("\n") || "no notifications")),
    );
}

const appleEnvironment = (e: "production" | "sandbox" | undefined) => (e === "production" ? AppleEnvironment.PRODUCTION : e === "sandbox" ? AppleEnvironment.SANDBOX : AppleEnvironment.UNSPECIFIED);

/** "PURCHASE_STATUS_ACTIVE" → "active". */
const enumName = (v: unknown, prefix: string) => (typeof v === "string" ? v.replace(prefix, "").toLowerCase() : "");

/** The same line as describe(), from the RPC's answer. */
function describeMessage(m: VerifiedPurchaseMessage | undefined): string {
  if (!m) return "no purchase in the answer";
  const j = jsonOf(VerifiedPurchaseSchema, m) as { kind?: string; status?: string; environment?: string };
  if (!m.valid) return `invalid: ${m.errorCode}`;
  const env = enumName(j.environment, "STORE_ENVIRONMENT_");
  return `valid: ${enumName(j.kind, "PURCHASE_KIND_") || "?"} ${m.productId} ${enumName(j.status, "PURCHASE_STATUS_")} (${env || "?"}) transaction ${m.transactionId || "-"}${m.expiresAt ? ` expires ${timestampDate(m.expiresAt).toISOString()}` : ""}`;
}

function describe(p: VerifiedPurchase): string {
  if (!p.valid) return `invalid: ${p.errorCode}`;
  return `valid: ${p.kind ?? "?"} ${p.productId} ${p.status ?? ""} (${p.environment ?? "?"}) transaction ${p.transactionId || "-"}${p.expiresAt ? ` expires ${p.expiresAt.toISOString()}` : ""}`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** `--accept production,sandbox`: the environments a tenant accepts. */
function acceptedEnvironments(value: string): Array<"production" | "sandbox"> {
  const names = value.split(",").map((s) => s.trim().toLowerCase());
  for (const name of names) if (name !== "production" && name !== "sandbox") throw new Error(`--accept: ${name} is not production or sandbox`);
  return names as Array<"production" | "sandbox">;
}
