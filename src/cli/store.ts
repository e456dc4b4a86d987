import { readFile } from "node:fs/promises";
import { Option, type Command } from "commander";
import type { Config } from "../config.js";
import { Keyring } from "../crypto/keyring.js";
import { loadMasterKey } from "../crypto/master-key.js";
import type { Database } from "../db/db.js";
import type { Broadcast } from "../infra/broadcast.js";
import { localBroadcast } from "./broadcast.js";
import type { Logger } from "../logger.js";
import type { StoreVerification } from "../store/module.js";
import type { VerifiedPurchase } from "../store/purchase.js";

export interface CliHelpers {
  withDatabase<T>(run: (db: Database, config: Config) => Promise<T>): Promise<T>;
  output(value: unknown, human: () => string): void;
  logger(config: Config): Logger;
}

interface StoreContext {
  database: Database;
  config: Config;
  keyring: Keyring;
  broadcast: Broadcast | undefined;
  store: StoreVerification;
}

/**
 * `attesto store …`: what an operator needs to debug a tenant's store
 * setup, on the same code paths as the API. Credential changes broadcast
 * an eviction, so running servers drop their cached copies at once.
 */
export function registerStoreCommands(program: Command, helpers: CliHelpers): void {
  const withStore = <T>(run: (ctx: StoreContext) => Promise<T>) =>
    helpers.withDatabase(async (database, config) => {
      const logger = helpers.logger(config);
      const keyring = new Keyring(await loadMasterKey({ encryptionKey: config.encryptionKey, dataDir: config.dataDir, embedded: !config.databaseUrl, logger }));
      const { broadcast, close } = await localBroadcast(config, logger);
      // Loaded here, so that the other commands do not pay for the store's modules at start-up.
      const { StoreVerification, storeSettings } = await import("../store/module.js");
      const store = new StoreVerification({ db: database.db, keyring, broadcast, logger }, storeSettings(config));
      try {
        return await run({ database, config, keyring, broadcast, store });
      } finally {
        await store.close();
        await close();
      }
    });
  // The CLI's own store module evicts locally and broadcasts to the running servers.
  const changed = async (ctx: StoreContext, tenantId: string) => ctx.store.credentialsChanged(tenantId);
  const credentials = () => import("../store/credentials.js");

  const store = program.command("store").description("App Store and Google Play: credentials, verification, notifications");

  store
    .command("put-apple <tenantId>")
    .description("store a tenant's App Store Server API credentials (the .p8 is sealed)")
    .requiredOption("--bundle-id <id>")
    .requiredOption("--key-id <id>")
    .requiredOption("--issuer-id <id>")
    .requiredOption("--key-file <path>", "the App Store Connect .p8 key (PEM)")
    .addOption(new Option("--environment <env>").choices(["production", "sandbox"]).default("production"))
    .action((tenantId: string, o: { bundleId: string; keyId: string; issuerId: string; keyFile: string; environment: "production" | "sandbox" }) =>
      withStore(async (ctx) => {
        const info = await (await credentials()).putAppleCredentials(ctx.database.db, ctx.keyring, tenantId, {
          bundleId: o.bundleId,
          keyId: o.keyId,
          issuerId: o.issuerId,
          environment: o.environment,
          privateKeyPem: await readFile(o.keyFile, "utf8"),
        });
        await changed(ctx, tenantId);
        helpers.output(info, () => `stored Apple credentials of ${tenantId} (${info.bundleId}, ${info.environment})`);
      }),
    );

  store
    .command("put-google <tenantId>")
    .description("store a tenant's Google Play service account (sealed)")
    .requiredOption("--package-name <name>")
    .requiredOption("--service-account-file <path>", "the service account key file (JSON)")
    .option("--pubsub-audience <aud>", "audience of the Pub/Sub push OIDC tokens")
    .option("--pubsub-push-email <email>", "service account of the Pub/Sub push subscription")
    .action((tenantId: string, o: { packageName: string; serviceAccountFile: string; pubsubAudience?: string; pubsubPushEmail?: string }) =>
      withStore(async (ctx) => {
        const info = await (await credentials()).putGoogleCredentials(ctx.database.db, ctx.keyring, tenantId, {
          packageName: o.packageName,
          serviceAccountJson: await readFile(o.serviceAccountFile, "utf8"),
          pubsubAudience: o.pubsubAudience ?? null,
          pubsubPushEmail: o.pubsubPushEmail ?? null,
        });
        await changed(ctx, tenantId);
        helpers.output(info, () => `stored Google credentials of ${tenantId} (${info.packageName}, ${info.clientEmail})`);
      }),
    );

  store
    .command("delete-credentials <tenantId>")
    .addOption(new Option("--store <store>").choices(["apple", "google"]).makeOptionMandatory())
    .action((tenantId: string, o: { store: "apple" | "google" }) =>
      withStore(async (ctx) => {
        await (await credentials()).deleteStoreCredentials(ctx.database.db, tenantId, o.store);
        await changed(ctx, tenantId);
        helpers.output({ deleted: true, tenantId, store: o.store }, () => `deleted the ${o.store} credentials of ${tenantId}`);
      }),
    );

  store
    .command("verify-apple <tenantId> <transactionId>")
    .description("look a transaction up with the App Store Server API, as VerifyAppleTransaction does")
    .addOption(new Option("--environment <env>", "only this host (default: production, then sandbox)").choices(["production", "sandbox"]))
    .action((tenantId: string, transactionId: string, o: { environment?: "production" | "sandbox" }) =>
      withStore(async (ctx) => {
        if (!/^[0-9]{1,64}$/.test(transactionId)) throw new Error("transactionId must be digits");
        const result = await ctx.store.verifyAppleTransaction(tenantId, { transactionId, environment: o.environment });
        helpers.output(result, () => describe(result.purchase));
      }),
    );

  store
    .command("verify-google <tenantId> <purchaseToken>")
    .description("look a purchase up with the Google Play Developer API, as VerifyGooglePurchase does")
    .addOption(new Option("--kind <kind>").choices(["product", "subscription"]).makeOptionMandatory())
    .option("--product-id <id>")
    .option("--package-name <name>")
    .action((tenantId: string, purchaseToken: string, o: { kind: "product" | "subscription"; productId?: string; packageName?: string }) =>
      withStore(async (ctx) => {
        const result = await ctx.store.verifyGooglePurchase(tenantId, { purchaseToken, kind: o.kind, productId: o.productId, packageName: o.packageName });
        helpers.output(result, () => describe(result.purchase));
      }),
    );

  store
    .command("verify-signed <tenantId> <jws>")
    .description("verify an Apple-signed JWS offline (a file path with @path, stdin with -), as VerifyAppleSignedData does")
    .addOption(new Option("--environment <env>").choices(["production", "sandbox"]))
    .action((tenantId: string, jws: string, o: { environment?: "production" | "sandbox" }) =>
      withStore(async (ctx) => {
        const signedData = (jws === "-" ? await readStdin() : jws.startsWith("@") ? await readFile(jws.slice(1), "utf8") : jws).trim();
        const result = await ctx.store.verifyAppleSignedData(tenantId, { signedData, environment: o.environment });
        helpers.output(result, () => `${result.kind ?? "unknown kind"}: ${describe(result.purchase)}`);
      }),
    );

  store
    .command("notifications <tenantId>")
    .description("the tenant's latest verified inbound notifications")
    .addOption(new Option("--source <source>").choices(["apple", "google"]))
    .option("--type <type>", "only this notification type")
    .option("--limit <n>", "how many (newest first)", (v) => Number(v), 20)
    .action((tenantId: string, o: { source?: "apple" | "google"; type?: string; limit: number }) =>
      helpers.withDatabase(async ({ db }) => {
        const { listStoreNotifications } = await import("../store/notifications.js");
        const { notifications: rows } = await listStoreNotifications(db, tenantId, { source: o.source, type: o.type, pageSize: o.limit });
        helpers.output(rows, () =>
          rows.map((r) => `${r.signedAt.toISOString()}\t${r.source}\t${r.notificationType}${r.subtype ? `/${r.subtype}` : ""}\t${r.externalId}\t${r.streamId}#${r.seqNo}`).join("\n") ||
          "no notifications",
        );
      }),
    );
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
