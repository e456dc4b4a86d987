import { pgTable, text, timestamp } from "drizzle-orm/pg-core";
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
  serviceAccountEnc: bytea("service_account_enc").notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});
