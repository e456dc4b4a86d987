import { jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The settings that must agree across the instances of one deployment
 * (src/deployment/settings.ts), as the first instance to start stored them.
 * A deployment is what shares the database, the queue prefix and the master
 * key: instances with another key cannot open each other's sealed values,
 * so they are told apart by `key_check` (an HMAC check value under a subkey
 * of the master key, never the key or a plain hash of it).
 */
export const deploymentSettings = pgTable(
  "deployment_settings",
  {
    queuePrefix: text("queue_prefix").notNull(),
    keyCheck: text("key_check").notNull(),
    /** Setting name → value, as `sharedSettings` names them. */
    settings: jsonb("settings").$type<Record<string, string | number | boolean>>().notNull(),
    writtenAt: timestamp("written_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.queuePrefix, t.keyCheck] })],
);
