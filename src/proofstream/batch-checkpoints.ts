import { signNoteWith, type NoteSigner as Signer } from "../crypto/note-signing.js";
import type { SQL } from "drizzle-orm";
import { checkpointedEvent, type CheckpointRecord } from "./checkpoints.js";
import type { WebhookEmitter } from "../webhooks/module.js";
import type { StreamKeys } from "./keys.js";
import type { AppendResult } from "./event-record.js";
import { BatchProofs } from "./merkle/batch-proof.js";
import { edgeRoot, type RightEdge } from "./merkle/right-edge.js";
import { formatCheckpoint } from "./note.js";
import type { CheckpointPace } from "./checkpoint-pace.js";

/**
 * Checkpoints signed inside a commit: when an append in the batch waits for
 * its proof (receipts at write time), or the stream's periodic checkpoint
 * is due (CheckpointPace), the commit signs the tree it writes and stores
 * the checkpoint in the same transaction: one Ed25519 signature and no
 * second commit. What the commit needs from outside the appender:
 */
export interface CheckpointsAtCommit {
  /** The stream's signers when this process holds them already; otherwise the waiter's own signing (ReceiptWaiter) covers the batch. */
  signersOf(streamId: string): { generation: number; signers: readonly Signer[] } | undefined;
  /** True when the stream's periodic checkpoint is due: its commit signs even if no member waits (CheckpointPace). */
  due(streamId: string): boolean;
  /** A commit that signed found the stream moved (maybe by a key rotation): the signers held are not trusted until read again. */
  forget(streamId: string): void;
  /** The checkpoints' `proofstream.checkpointed` deliveries as part of the commit's statement, for the streams `guard` keeps (alias i, column key: the stream id). */
  eventsInStatement(checkpoints: readonly CommitCheckpoint[], guard: SQL): SQL;
  /**
   * True when the stream's checkpoints had no webhook recipient at its last
   * signing commit: the next one leaves the deliveries out of its statement,
   * which refuses its change if `recipientsInStatement` has turned true.
   */
  quiet(streamId: string): boolean;
  /** SQL true when a checkpoint of the stream (`streamId`, of tenant `tenantId`: SQL expressions) has a webhook recipient. */
  recipientsInStatement(tenantId: SQL, streamId: SQL): SQL;
  /** What a signing commit found out: whether the stream's checkpoints have recipients. */
  heard(streamId: string, recipients: boolean): void;
  /** After the commit: announce the checkpoint as the Checkpointer's own are (and wake the webhook poller when deliveries were written); `forWaiters` when a member waited for it. */
  signed(checkpoint: CheckpointRecord, deliveries: boolean, forWaiters: boolean): void;
}

/** A checkpoint of the tree after one stream's share of a batch, signed before the statement that stores both. */
export interface CommitCheckpoint {
  streamId: string;
  tenantId: string;
  signedAt: Date;
  treeSize: number;
  rootHash: Buffer;
  note: string;
  keyId: number;
  /** The key generation that signed: the commit's compare-and-swap stores the checkpoint only while it is the stream's. */
  keyGeneration: number;
  proofs: BatchProofs;
  /** The batch's leaf bytes, in seq_no order (a waiter's receipt carries its leaf). */
  leaves: readonly Buffer[];
}

/**
 * Signs the tree after the batch. The tree is the one the same statement
 * writes (its size moved by compare-and-swap from `before`), so the note is
 * consistent with every earlier checkpoint exactly when the edge the batch
 * extends is: the edge the previous commit wrote, or the one read from the
 * stored tiles. Storage's own consistency is what the periodic signer
 * checks, and the self-audit checks every checkpoint against the tiles.
 */
export function signAtCommit(
  stream: { streamId: string; tenantId: string },
  { generation, signers }: { generation: number; signers: readonly Signer[] },
  before: RightEdge,
  after: RightEdge,
  rows: ReadonlyArray<{ leaf: Buffer; leafHash: Buffer }>,
): CommitCheckpoint {
  const rootHash = edgeRoot(after)!;
  const note = signNoteWith(formatCheckpoint({ origin: signers[0]!.name, size: after.size, root: rootHash }), signers);
  const proofs = new BatchProofs(
    before,
    rows.map((r) => r.leafHash),
  );
  return { ...stream, signedAt: new Date(), treeSize: after.size, rootHash, note, keyId: signers[0]!.keyId | 0, keyGeneration: generation, proofs, leaves: rows.map((r) => r.leaf) };
}

/** The stored checkpoint as served (no cosignatures yet). */
export function committedCheckpoint(c: CommitCheckpoint): CheckpointRecord {
  return {
    streamId: c.streamId,
    treeSize: c.treeSize,
    rootHash: c.rootHash,
    note: c.note,
    logNote: c.note,
    keyId: c.keyId,
    signedAt: c.signedAt,
    cosignatures: "",
    cosignatureCount: 0,
    witnessedAt: null,
    timestampToken: null,
    timestampedAt: null,
  };
}

/** The answers of the members that wait for proof get the checkpoint and their path in it. */
export function withProofs(results: ReadonlyArray<AppendResult | Error>, waiting: readonly boolean[], c: CommitCheckpoint, checkpoint: CheckpointRecord): Array<AppendResult | Error> {
  const first = c.treeSize - c.leaves.length;
  return results.map((r, i) => (r instanceof Error || !waiting[i] ? r : { ...r, proof: { checkpoint, hashes: c.proofs.inclusion(r.event.seqNo - 1), leaf: c.leaves[r.event.seqNo - 1 - first]! } }));
}

/** Streams whose recipients (or their absence) are remembered; past this many the memory starts over. */
const QUIET_STREAMS_KEPT = 100_000;

/** The facade's wiring: the stream keys this process holds, the checkpoints' webhook events, and what follows a signing. */
export function checkpointsAtCommit(keys: StreamKeys, events: WebhookEmitter, pace: CheckpointPace, onSigned: (checkpoint: CheckpointRecord, forWaiters: boolean) => void): CheckpointsAtCommit {
  // By stream: whether its checkpoints had a recipient at its last signing commit. Only a speed-up
  // (the statement checks again), so it is simply dropped when it grows large.
  const recipients = new Map<string, boolean>();
  return {
    quiet: (streamId) => recipients.get(streamId) === false,
    recipientsInStatement: (tenantId, streamId) => events.hasRecipientsInStatement("proofstream.checkpointed", tenantId, streamId),
    heard: (streamId, heard) => {
      if (recipients.size >= QUIET_STREAMS_KEPT && !recipients.has(streamId)) recipients.clear();
      recipients.set(streamId, heard);
    },
    signersOf: (streamId) => keys.cachedSigners(streamId),
    due: (streamId) => pace.due(streamId),
    forget: (streamId) => keys.forget(streamId),
    eventsInStatement: (checkpoints, guard) =>
      events.emitInStatement(
        "proofstream.checkpointed",
        checkpoints.map((c) => ({ key: c.streamId, tenantId: c.tenantId, data: checkpointedEvent(committedCheckpoint(c)) })),
        guard,
      ),
    signed: (checkpoint, deliveries, forWaiters) => {
      if (deliveries) events.committed();
      onSigned(checkpoint, forWaiters);
    },
  };
}
