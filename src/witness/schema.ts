import { bigint, index, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { bytea } from "../db/columns.js";

const count = (name: string) => bigint(name, { mode: "number" });

/**
 * Attesto as a C2SP tlog-witness: the logs it trusts (by origin, with their
 * verifier keys) and the latest checkpoint it cosigned for each, the state
 * the spec asks a witness to update atomically.
 */
export const witnessedLogs = pgTable("witnessed_logs", {
  origin: text("origin").primaryKey(),
  /** The log's trusted note verifier keys (Ed25519, C2SP vkey form). */
  verifierKeys: jsonb("verifier_keys").$type<string[]>().notNull(),
  /** Size of the latest cosigned checkpoint; 0 before the first. */
  treeSize: count("tree_size").notNull().default(0),
  rootHash: bytea("root_hash"),
  /** The latest cosigned checkpoint note, as submitted. */
  note: text("note").notNull().default(""),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

/** Checkpoints a trusted log signed that contradict what this witness cosigned: kept as evidence of a fork. */
export const witnessForkEvidence = pgTable(
  "witness_fork_evidence",
  {
    id: text("id").primaryKey(),
    origin: text("origin").notNull(),
    kind: text("kind", { enum: ["same_size_different_root", "inconsistent"] }).notNull(),
    heldSize: count("held_size").notNull(),
    heldRoot: bytea("held_root").notNull(),
    heldNote: text("held_note").notNull(),
    /** The whole add-checkpoint body: old size, proof lines, the signed checkpoint. */
    submitted: text("submitted").notNull(),
    /** The same submission twice is stored once. */
    dedupeKey: text("dedupe_key").notNull(),
    detectedAt: timestamp("detected_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("witness_fork_evidence_dedupe").on(t.origin, t.dedupeKey), index("witness_fork_evidence_origin").on(t.origin, t.detectedAt)],
);

/** The witness client: per configured witness and stream, the size that witness last cosigned (where the next proof starts). */
export const witnessProgress = pgTable(
  "witness_progress",
  {
    witness: text("witness").notNull(),
    streamId: text("stream_id").notNull(),
    treeSize: count("tree_size").notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.witness, t.streamId] })],
);
