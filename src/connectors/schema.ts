import { bigint, index, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { bytea } from "../db/columns.js";
import { tenants } from "../tenancy/schema.js";
import { streams } from "../proofstream/schema.js";

const tstz = (name: string) => timestamp(name, { withTimezone: true });

export type ConnectorKind = "signed_webhook" | "github" | "gitlab" | "s3_object";

/**
 * Connectors. The secret (for s3_object: the JSON of the credentials) is
 * sealed with the keyring (context connectors.secret, the tenant id as
 * associated data). The previous secret is kept after its overlap, only to
 * recognize a sender still using it. Revoking destroys both secrets and
 * keeps the row.
 */
export const connectors = pgTable(
  "connectors",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    streamId: text("stream_id")
      .notNull()
      .references(() => streams.id),
    name: text("name").notNull(),
    kind: text("kind", { enum: ["signed_webhook", "github", "gitlab", "s3_object"] }).notNull(),
    /** Kind-specific settings without secrets (KindSettings in src/connectors/types.ts). */
    settings: jsonb("settings").notNull().default({}),
    secretEnc: bytea("secret_enc"),
    secretRotatedAt: tstz("secret_rotated_at").notNull().defaultNow(),
    previousSecretEnc: bytea("previous_secret_enc"),
    previousSecretExpiresAt: tstz("previous_secret_expires_at"),
    createdAt: tstz("created_at").notNull().defaultNow(),
    revokedAt: tstz("revoked_at"),
  },
  (t) => [index("connectors_tenant").on(t.tenantId, t.id)],
);

/**
 * Diagnostics of a connector: counters and the latest outcomes. Written by
 * the batched flush of each instance (src/connectors/stats.ts), never per
 * request; `status` follows the outcome with the latest `status_at`.
 */
export const connectorStats = pgTable("connector_stats", {
  connectorId: text("connector_id")
    .primaryKey()
    .references(() => connectors.id),
  acceptedCount: bigint("accepted_count", { mode: "number" }).notNull().default(0),
  duplicateCount: bigint("duplicate_count", { mode: "number" }).notNull().default(0),
  authFailureCount: bigint("auth_failure_count", { mode: "number" }).notNull().default(0),
  replayConflictCount: bigint("replay_conflict_count", { mode: "number" }).notNull().default(0),
  rejectedCount: bigint("rejected_count", { mode: "number" }).notNull().default(0),
  pingCount: bigint("ping_count", { mode: "number" }).notNull().default(0),
  ignoredCount: bigint("ignored_count", { mode: "number" }).notNull().default(0),
  /** healthy, auth_failed or replay_conflict: the latest outcome that sets a status. */
  status: text("status", { enum: ["healthy", "auth_failed", "replay_conflict"] }),
  statusAt: tstz("status_at"),
  lastSuccessAt: tstz("last_success_at"),
  lastSuccessKind: text("last_success_kind"),
  lastFailureAt: tstz("last_failure_at"),
  lastFailureReason: text("last_failure_reason"),
});
