import { bigserial, boolean, index, integer, pgTable, text, timestamp } from "drizzle-orm/pg-core";

// Re-exported by src/db/schema.ts.

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
