import { sql } from "drizzle-orm";
import { boolean, index, pgTable, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { bytea } from "./columns.js";


const createdAt = () => timestamp("created_at", { withTimezone: true }).notNull().defaultNow();

export const tenants = pgTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  active: boolean("active").notNull().default(true),
  createdAt: createdAt(),
  deactivatedAt: timestamp("deactivated_at", { withTimezone: true }),
});

export const apiKeys = pgTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name").notNull(),
    /** Hex SHA-256 of the whole key; the key itself is never stored. */
    keyHash: text("key_hash").notNull(),
    prefix: text("prefix").notNull(),
    createdAt: createdAt(),
    lastUsedAt: timestamp("last_used_at", { withTimezone: true }),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("api_keys_key_hash_active").on(t.keyHash).where(sql`${t.revokedAt} IS NULL`),
    index("api_keys_tenant").on(t.tenantId),
  ],
);

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

// Domain tables live beside their domain and are re-exported here, so that
// Drizzle (queries and drizzle-kit) sees one schema:
// export * from "../<domain>/schema.js";
export * from "../webhooks/schema.js";
export * from "../proofstream/schema.js";
export * from "../proofstream/bundles-schema.js";
