import { bigint, index, jsonb, pgTable, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { tenants } from "../db/schema.js";

// Re-exported by src/db/schema.ts (tenants is read lazily, in references).

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
  },
  (t) => [
    uniqueIndex("store_notifications_external").on(t.tenantId, t.source, t.externalId),
    index("store_notifications_tenant_signed").on(t.tenantId, t.signedAt, t.id),
  ],
);

/** The store Proofstream of each tenant, created on its first notification. */
export const storeStreams = pgTable("store_streams", {
  tenantId: text("tenant_id")
    .primaryKey()
    .references(() => tenants.id),
  streamId: text("stream_id").notNull(),
  createdAt: tstz("created_at").notNull().defaultNow(),
});
