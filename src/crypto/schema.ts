import { pgTable, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The fingerprint (Keyring.fingerprint) of the master key the stored secrets
 * are sealed with, written by `attesto reseal` in the transaction that
 * re-seals them. A process whose keys do not match it refuses to start
 * (key-check.ts); a database never re-sealed has no row and no check.
 */
export const masterKeyCheck = pgTable("master_key_check", {
  /** "master": one row. */
  slot: text("slot").primaryKey(),
  fingerprint: text("fingerprint").notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});
