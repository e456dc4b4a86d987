import { bigint, index, integer, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";
import { bytea } from "../db/columns.js";

const count = (name: string) => bigint(name, { mode: "number" });

/**
 * Merkle batches of checkpoints and their on-chain state. A batch moves
 * pending → submitted → confirmed, or to failed (its checkpoints go into the
 * next batch). The current signed transaction is kept on the row before it
 * is broadcast, so a restart re-sends the same bytes instead of signing again.
 */
export const anchorBatches = pgTable(
  "anchor_batches",
  {
    id: text("id").primaryKey(),
    status: text("status", { enum: ["pending", "submitted", "confirmed", "failed"] })
      .notNull()
      .default("pending"),
    chainId: count("chain_id").notNull(),
    root: bytea("root").notNull(),
    memberCount: integer("member_count").notNull(),
    /** The sender's nonce the batch's transactions use (every replacement keeps it). */
    nonce: count("nonce"),
    /** The transaction now expected to be mined (the newest replacement). */
    txHash: text("tx_hash"),
    /** When the current transaction was last (re)broadcast: replacement by fee is timed from it. */
    broadcastAt: timestamp("broadcast_at", { withTimezone: true }),
    blockNumber: count("block_number"),
    blockHash: text("block_hash"),
    blockTime: timestamp("block_time", { withTimezone: true }),
    /** "finalized" (the node's finalized tag) or "confirmations" (N blocks on top). */
    confirmationRule: text("confirmation_rule", { enum: ["finalized", "confirmations"] }),
    /** Blocks from the transaction's block to the chain head when it was confirmed, inclusive. */
    confirmations: integer("confirmations").notNull().default(0),
    /** chain_lost: a confirmed batch whose block the chain no longer holds (a reset dev chain, a deep reorg). */
    failureReason: text("failure_reason", { enum: ["", "dropped", "reorged", "orphan_window", "submit_failed", "chain_lost"] })
      .notNull()
      .default(""),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    submittedAt: timestamp("submitted_at", { withTimezone: true }),
    confirmedAt: timestamp("confirmed_at", { withTimezone: true }),
    failedAt: timestamp("failed_at", { withTimezone: true }),
  },
  (t) => [index("anchor_batches_status").on(t.status, t.id)],
);

/** Every transaction signed for a batch (the first and each fee replacement): any of them may be the one mined. */
export const anchorTransactions = pgTable(
  "anchor_transactions",
  {
    txHash: text("tx_hash").primaryKey(),
    batchId: text("batch_id")
      .notNull()
      .references(() => anchorBatches.id),
    chainId: count("chain_id").notNull(),
    sender: text("sender").notNull(),
    nonce: count("nonce").notNull(),
    /** The signed transaction, 0x-hex: what is (re)broadcast. */
    rawTx: text("raw_tx").notNull(),
    /** Wei, as decimal strings (they exceed 2^53). */
    maxFeePerGas: text("max_fee_per_gas").notNull(),
    maxPriorityFeePerGas: text("max_priority_fee_per_gas").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("anchor_transactions_batch").on(t.batchId), index("anchor_transactions_nonce").on(t.chainId, t.sender, t.nonce)],
);

/**
 * One checkpoint in a batch: its leaf index and audit path to the batch root,
 * and the consistency proof from the stream's previously anchored checkpoint.
 */
export const anchorMembers = pgTable(
  "anchor_members",
  {
    batchId: text("batch_id")
      .notNull()
      .references(() => anchorBatches.id),
    leafIndex: integer("leaf_index").notNull(),
    tenantId: text("tenant_id").notNull(),
    streamId: text("stream_id").notNull(),
    treeSize: count("tree_size").notNull(),
    rootHash: bytea("root_hash").notNull(),
    /** The signed checkpoint note: the leaf's bytes. */
    note: text("note").notNull(),
    /** Audit path hashes, leaf level first, concatenated (32 bytes each). */
    auditPath: bytea("audit_path").notNull(),
    /** Tree size of the stream's previously anchored checkpoint; 0 for the first. */
    previousTreeSize: count("previous_tree_size").notNull(),
    /** RFC 9162 consistency proof from previous_tree_size to tree_size, concatenated. */
    consistencyProof: bytea("consistency_proof").notNull(),
  },
  (t) => [primaryKey({ columns: [t.batchId, t.leafIndex] }), index("anchor_members_stream").on(t.streamId, t.treeSize), index("anchor_members_tenant").on(t.tenantId, t.batchId)],
);

/** The sender key generated when none is configured, sealed with the keyring (context anchor_keys.private_key, aad the slot). */
export const anchorKeys = pgTable("anchor_keys", {
  /** "sender": one generated key per deployment. */
  slot: text("slot").primaryKey(),
  address: text("address").notNull(),
  privateKeyEnc: bytea("private_key_enc").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});
