import { pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";
import { bytea } from "../db/columns.js";

/**
 * The answers of Create calls made with a request_id (AIP-155), kept for
 * the replay window: which resource the first call created, a fingerprint
 * of its request, and the one-time secret it showed, sealed. Rows older
 * than the window are purged.
 */
export const requestIds = pgTable(
  "request_ids",
  {
    /** Whose request ids these are: a tenant id, or "operator". */
    scope: text("scope").notNull(),
    /** The RPC, e.g. "CreateStream". */
    method: text("method").notNull(),
    requestId: text("request_id").notNull(),
    /** SHA-256 (hex) of the request's other fields: the same id with another request is refused. */
    fingerprint: text("fingerprint").notNull(),
    resourceId: text("resource_id").notNull(),
    secretEnc: bytea("secret_enc"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.method, t.requestId] })],
);
