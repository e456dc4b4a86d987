import { sql } from "drizzle-orm";
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, smallint, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { bytea } from "../db/columns.js";
import { tenants } from "../tenancy/schema.js";

const count = (name: string) => bigint(name, { mode: "number" });

export const streams = pgTable(
  "streams",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name").notNull(),
    origin: text("origin").notNull(),
    /** Events in the Merkle tree (their tiles written): what checkpoints sign and proofs cover. */
    treeSize: count("tree_size").notNull().default(0),
    /**
     * Events sequenced beyond the tree: stored with their final seq_no (up to
     * tree_size + unintegrated) but not yet hashed into the tiles. Appenders
     * that meet on one stream sequence here and integrate in turn.
     */
    unintegrated: count("unintegrated").notNull().default(0),
    /** Size of the latest signed checkpoint (compare-and-swap guard of the signer). */
    checkpointSize: count("checkpoint_size").notNull().default(0),
    /**
     * The key generation that signs: 0 for the keys the stream was created
     * with, one more per rotation. Every signer's compare-and-swap checks it,
     * so a note signed with keys read before a rotation is never stored after it.
     */
    keyGeneration: integer("key_generation").notNull().default(0),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("streams_tenant").on(t.tenantId, t.id)],
);

/** Checkpoint signing keys; retired keys stay so old checkpoints keep verifying. */
export const streamKeys = pgTable(
  "stream_keys",
  {
    streamId: text("stream_id")
      .notNull()
      .references(() => streams.id),
    keyId: integer("key_id").notNull(),
    /** The C2SP signed-note signature type: 1 Ed25519, 6 ML-DSA-44 (tlog-cosignature subtree/v1). */
    algorithm: smallint("algorithm").notNull().default(1),
    publicKey: bytea("public_key").notNull(),
    /** The key's 32-byte seed (Ed25519 or ML-DSA-44), sealed (context stream_keys.private_key, aad stream id). */
    privateKeyEnc: bytea("private_key_enc").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    retiredAt: timestamp("retired_at", { withTimezone: true }),
    /** The rotation that made the key (0: the stream's first keys); see stream_key_rotations. */
    generation: integer("generation").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.streamId, t.keyId] }),
    // One current key per signature type.
    uniqueIndex("stream_keys_current_by_algorithm")
      .on(t.streamId, t.algorithm)
      .where(sql`${t.retiredAt} IS NULL`),
  ],
);

/**
 * Key rotations: generation N's keys sign every checkpoint of a tree larger
 * than `takesOverAfter` (the previous generation's keys co-sign the first of
 * them). `statement` is the signed note (attesto key-rotation v1) by the
 * previous and the new Ed25519 key that verifiers follow from a pinned key.
 */
export const streamKeyRotations = pgTable(
  "stream_key_rotations",
  {
    streamId: text("stream_id")
      .notNull()
      .references(() => streams.id),
    generation: integer("generation").notNull(),
    takesOverAfter: count("takes_over_after").notNull(),
    statement: text("statement").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.streamId, t.generation] })],
);

export const streamEvents = pgTable(
  "events",
  {
    streamId: text("stream_id")
      .notNull()
      .references(() => streams.id),
    seqNo: count("seq_no").notNull(),
    sourceRef: text("source_ref").notNull(),
    eventType: text("event_type").notNull(),
    occurredAt: timestamp("occurred_at", { withTimezone: true, precision: 3 }).notNull(),
    receivedAt: timestamp("received_at", { withTimezone: true, precision: 3 }).notNull(),
    payload: jsonb("payload").notNull(),
    payloadSha256: text("payload_sha256").notNull(),
    /** The exact leaf bytes (JCS) that were hashed. */
    leaf: bytea("leaf").notNull(),
    leafHash: bytea("leaf_hash").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.streamId, t.seqNo] }),
    uniqueIndex("events_source_ref").on(t.streamId, t.sourceRef),
    // leaf_hash first: an index led by stream_id is one the planner may take for a lookup of
    // (stream_id, source_ref) when it has no statistics yet (a new database's first minute, until
    // autovacuum's first ANALYZE), reading the stream's every event for each lookup. Lookups by
    // leaf hash give both columns, so the order costs them nothing.
    index("events_leaf_hash").on(t.leafHash, t.streamId),
  ],
);

/**
 * C2SP tlog-tiles: tile (level, idx) holds up to 256 consecutive hashes of
 * Merkle level 8*level. Full tiles never change; the rightmost tile of each
 * level grows in place.
 */
export const tiles = pgTable(
  "tiles",
  {
    streamId: text("stream_id")
      .notNull()
      .references(() => streams.id),
    level: smallint("level").notNull(),
    idx: count("idx").notNull(),
    hashes: bytea("hashes").notNull(),
  },
  (t) => [primaryKey({ columns: [t.streamId, t.level, t.idx] })],
);

export const checkpoints = pgTable(
  "checkpoints",
  {
    streamId: text("stream_id")
      .notNull()
      .references(() => streams.id),
    treeSize: count("tree_size").notNull(),
    rootHash: bytea("root_hash").notNull(),
    /** The note as the log signed it (the log's own signature lines): what anchors hash. */
    note: text("note").notNull(),
    keyId: integer("key_id").notNull(),
    signedAt: timestamp("signed_at", { withTimezone: true }).notNull().defaultNow(),
    /** Witness cosignature lines (C2SP tlog-cosignature), appended as they arrive; served after the log's lines. */
    cosignatures: text("cosignatures").notNull().default(""),
    /** The number of lines in `cosignatures`. */
    cosignatureCount: integer("cosignature_count").notNull().default(0),
    /** When the deployment's witness policy was met; null until then. */
    witnessedAt: timestamp("witnessed_at", { withTimezone: true }),
    /** An RFC 3161 TimeStampToken (DER) over `note` (the log's note), verified on receipt against the configured TSA roots; null until one arrives. */
    timestampToken: bytea("timestamp_token"),
    /** The token's genTime: when the TSA saw the note. */
    timestampedAt: timestamp("timestamped_at", { withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.streamId, t.treeSize] })],
);

export const forkEvidence = pgTable(
  "fork_evidence",
  {
    id: text("id").primaryKey(),
    streamId: text("stream_id")
      .notNull()
      .references(() => streams.id),
    tenantId: text("tenant_id").notNull(),
    kind: text("kind", { enum: ["same_size_different_root", "inconsistent", "anchor_contradiction", "self_audit_mismatch"] }).notNull(),
    source: text("source", { enum: ["submitted_checkpoint", "anchor", "self_audit"] }).notNull(),
    sourceDetail: text("source_detail").notNull().default(""),
    historyNote: text("history_note").notNull(),
    conflictingNote: text("conflicting_note").notNull().default(""),
    historySize: count("history_size").notNull(),
    conflictingSize: count("conflicting_size").notNull(),
    historyRoot: bytea("history_root").notNull(),
    conflictingRoot: bytea("conflicting_root").notNull(),
    proofAttempt: jsonb("proof_attempt").$type<{ fromSize: number; toSize: number; hashes: string[]; failure: string }>().notNull(),
    /** The same conflict reported twice is stored once. */
    dedupeKey: text("dedupe_key").notNull(),
    detectedAt: timestamp("detected_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("fork_evidence_dedupe").on(t.streamId, t.dedupeKey), index("fork_evidence_tenant").on(t.tenantId, t.id)],
);

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
    status: text("status", { enum: ["pending", "ready", "failed"] })
      .notNull()
      .default("pending"),
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

/**
 * Share links of bundles: anyone holding the token fetches the bundle
 * without an API key until `expires_at` or a revocation. Only the token's
 * SHA-256 is stored; the public route looks a link up by it.
 */
export const bundleShareLinks = pgTable(
  "bundle_share_links",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    bundleId: text("bundle_id")
      .notNull()
      .references(() => bundles.id, { onDelete: "cascade" }),
    tokenSha256: bytea("token_sha256").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
  },
  (t) => [uniqueIndex("bundle_share_links_token").on(t.tokenSha256), index("bundle_share_links_tenant").on(t.tenantId, t.id)],
);
