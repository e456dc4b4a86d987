import { bigint, bigserial, boolean, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { sql } from "drizzle-orm";
import { bytea } from "../db/columns.js";
import { tenants } from "../tenancy/schema.js";

/** App Store Server API credentials; the .p8 key is sealed (context apple_credentials.private_key). */
export const appleCredentials = pgTable("apple_credentials", {
  tenantId: text("tenant_id")
    .primaryKey()
    .references(() => tenants.id),
  bundleId: text("bundle_id").notNull(),
  keyId: text("key_id").notNull(),
  issuerId: text("issuer_id").notNull(),
  environment: text("environment", { enum: ["production", "sandbox"] }).notNull(),
  /** The environments whose signed data and notifications the tenant accepts (default both: App Store, TestFlight and App Review on one route). */
  acceptedEnvironments: text("accepted_environments", { enum: ["production", "sandbox"] })
    .array()
    .notNull()
    .default(sql`'{production,sandbox}'::text[]`),
  privateKeyEnc: bytea("private_key_enc").notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

/** Google Play credentials; the service account is sealed (context google_credentials.service_account). */
export const googleCredentials = pgTable("google_credentials", {
  tenantId: text("tenant_id")
    .primaryKey()
    .references(() => tenants.id),
  packageName: text("package_name").notNull(),
  clientEmail: text("client_email").notNull(),
  pubsubAudience: text("pubsub_audience"),
  /** The service account whose OIDC token Pub/Sub push requests must carry (RTDN). */
  pubsubPushEmail: text("pubsub_push_email"),
  /** Acknowledge each verified, unacknowledged purchase at once (Google refunds one left unacknowledged for three days). */
  autoAcknowledge: boolean("auto_acknowledge").notNull().default(false),
  serviceAccountEnc: bytea("service_account_enc").notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * One row per store verification, when ENABLE_VALIDATION_AUDIT_LOG is on.
 * The transaction id / purchase token is never stored: identifier_hash is
 * HMAC-SHA-256 under the keyring's hmac/validation_audit.identifier subkey
 * over `tenantId:source:identifier`, so rows of two tenants cannot be
 * correlated and a reader without the master key cannot build a dictionary.
 * No foreign key: an audit insert must never fail on what it records.
 */
export const validationAudit = pgTable(
  "validation_audit",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    tenantId: text("tenant_id").notNull(),
    source: text("source", { enum: ["apple", "google"] }).notNull(),
    identifierHash: text("identifier_hash").notNull(),
    valid: boolean("valid").notNull(),
    errorCode: text("error_code"),
    latencyMs: integer("latency_ms").notNull(),
    occurredAt: timestamp("occurred_at", { withTimezone: true }).notNull(),
  },
  (t) => [index("validation_audit_tenant_time").on(t.tenantId, t.occurredAt)],
);

const tstz = (name: string) => timestamp(name, { withTimezone: true });

/**
 * Verified inbound store notifications (App Store Server Notifications V2,
 * Google Play RTDN). One row per (tenant, source, external id): Apple's
 * notificationUUID or the Pub/Sub messageId, so a store's retry inserts
 * nothing. `payload` is the decoded, verified payload (Apple's nested JWS
 * decoded in place); `raw` is what the store sent (the signedPayload JWS,
 * or the Pub/Sub message), kept so the signature can be checked again.
 */
export const storeNotifications = pgTable(
  "store_notifications",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    source: text("source", { enum: ["apple", "google"] }).notNull(),
    externalId: text("external_id").notNull(),
    notificationType: text("notification_type").notNull(),
    subtype: text("subtype").notNull().default(""),
    environment: text("environment").notNull().default(""),
    appId: text("app_id").notNull().default(""),
    transactionId: text("transaction_id").notNull().default(""),
    originalTransactionId: text("original_transaction_id").notNull().default(""),
    productId: text("product_id").notNull().default(""),
    purchaseToken: text("purchase_token").notNull().default(""),
    signedAt: tstz("signed_at").notNull(),
    receivedAt: tstz("received_at").notNull().defaultNow(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    raw: text("raw").notNull(),
    streamId: text("stream_id").notNull(),
    seqNo: bigint("seq_no", { mode: "number" }).notNull(),
    /** How it arrived: pushed by the store to the inbound route, or found by reconciliation (Apple's Notification History, Google's voided purchases). */
    arrival: text("arrival", { enum: ["pushed", "reconciled"] })
      .notNull()
      .default("pushed"),
  },
  (t) => [uniqueIndex("store_notifications_external").on(t.tenantId, t.source, t.externalId), index("store_notifications_tenant_signed").on(t.tenantId, t.signedAt, t.id)],
);

/** The store Proofstream of each tenant, created on its first notification. */
export const storeStreams = pgTable("store_streams", {
  tenantId: text("tenant_id")
    .primaryKey()
    .references(() => tenants.id),
  streamId: text("stream_id").notNull(),
  createdAt: tstz("created_at").notNull().defaultNow(),
});

/**
 * The Google Play purchases Attesto acknowledged for a tenant (by a call,
 * or automatically after a verification when the tenant asks for it): one
 * row per purchase token and product.
 */
export const googleAcknowledgements = pgTable(
  "google_acknowledgements",
  {
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    purchaseToken: text("purchase_token").notNull(),
    kind: text("kind", { enum: ["product", "subscription"] }).notNull(),
    productId: text("product_id").notNull(),
    orderId: text("order_id").notNull().default(""),
    automatic: boolean("automatic").notNull(),
    acknowledgedAt: tstz("acknowledged_at").notNull().defaultNow(),
  },
  (t) => [uniqueIndex("google_acknowledgements_token").on(t.tenantId, t.purchaseToken, t.productId)],
);

/**
 * Where reconciliation of each of a tenant's sources got to: `apple:production`,
 * `apple:sandbox` (Notification History) and `google:voided` (voided purchases).
 * The row is the truth; the periodic job is only the timer that reads it.
 */
export const storeSyncCursors = pgTable(
  "store_sync_cursors",
  {
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    cursor: text("cursor").notNull(),
    /** The end of the last window read in full (Apple), or the newest voided time seen (Google). */
    syncedTo: tstz("synced_to").notNull(),
    lastRunAt: tstz("last_run_at").notNull().defaultNow(),
  },
  (t) => [uniqueIndex("store_sync_cursors_key").on(t.tenantId, t.cursor)],
);
