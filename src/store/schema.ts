import { bigserial, boolean, index, integer, pgTable, text, timestamp } from "drizzle-orm/pg-core";
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

/**
 * One row per store verification (seed 002, ENABLE_VALIDATION_AUDIT_LOG).
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
