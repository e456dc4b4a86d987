import { bigint, boolean, index, integer, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";
import { bytea } from "../db/columns.js";
import { streams } from "./schema.js";

const count = (name: string) => bigint(name, { mode: "number" });

/** Verifier bundles (attesto.bundle.v1): one row per CreateBundle, its document in bundle_chunks. */
export const bundles = pgTable(
  "bundles",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    streamId: text("stream_id")
      .notNull()
      .references(() => streams.id),
    fromSeqNo: count("from_seq_no").notNull(),
    toSeqNo: count("to_seq_no").notNull(),
    includePayloads: boolean("include_payloads").notNull(),
    includeInclusionProofs: boolean("include_inclusion_proofs").notNull().default(false),
    status: text("status", { enum: ["pending", "ready", "failed"] }).notNull().default("pending"),
    /** Entries written so far: the build's progress. */
    eventsDone: count("events_done").notNull().default(0),
    /** Tree size of the checkpoint the bundle proves against; 0 until chosen. */
    checkpointSize: count("checkpoint_size").notNull().default(0),
    sizeBytes: count("size_bytes").notNull().default(0),
    failureReason: text("failure_reason").notNull().default(""),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp("completed_at", { withTimezone: true }),
  },
  (t) => [index("bundles_tenant").on(t.tenantId, t.id)],
);

/**
 * The bundle document in order, as chunked rows of at most
 * ATTESTO_BUNDLE_CHUNK_BYTES each: written as the build streams, read back
 * one chunk at a time by the download route, so neither side holds a whole
 * bundle in memory.
 */
export const bundleChunks = pgTable(
  "bundle_chunks",
  {
    bundleId: text("bundle_id")
      .notNull()
      .references(() => bundles.id, { onDelete: "cascade" }),
    idx: integer("idx").notNull(),
    data: bytea("data").notNull(),
  },
  (t) => [primaryKey({ columns: [t.bundleId, t.idx] })],
);
