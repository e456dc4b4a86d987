import { inSpan, TraceHandoff, tracingEnabled } from "../infra/tracing.js";
import type { Db } from "../db/db.js";
import type { PageRequest } from "../db/pagination.js";
import { Bundles } from "./bundles.js";
import { Appender, type AppendInput, type AppendResult, type EventRecord } from "./append.js";
import {
  addCosignatures,
  Checkpointer,
  consistencyProof,
  getCheckpoint,
  latestCheckpointNote,
  latestForWitnesses,
  type CheckpointRecord,
  type CosignatureLine,
  type WitnessedCheckpoint,
} from "./checkpoints.js";
import { SignerWithoutQueue } from "./signer-without-queue.js";
import { getForkEvidence, listForkEvidence, recordAnchorContradiction, selfAudit, submitCheckpoint, type ForkEvidenceRecord, type SubmitResult } from "./forks.js";
import { StreamHeads } from "./heads.js";
import { latestCheckpoints, type LatestCheckpoint } from "./latest-checkpoints.js";
import { KeyRotations } from "./rotation.js";
import { consistencyProofToCheckpoint, inclusionProof, type InclusionProofResult, type LeafSelector } from "./proofs.js";
import { getEvent, listEvents, type EventFilter, type EventRef } from "./stream-events.js";
import { createStream, getStream, getStreamRow, listStreams, StreamCreator, type Stream } from "./streams.js";
import { TileCache } from "./tile-cache.js";
import { LeafCache } from "./leaf-cache.js";
import { CheckpointAnnouncements } from "./checkpoint-announcement.js";
import { proofLeafOf, receiptProof, tlogProofOf, tlogProofText } from "./tlog-proof.js";
import { createOnce } from "../request-ids/module.js";
import { TlogTiles } from "./tlog-tiles.js";
import type { WarmStreamStats } from "./warm-streams.js";
import { DEFAULT_PROOF_TIMEOUT_MS, ReceiptWaiter, type ProofReceipt, type ReceiptStats } from "./receipts.js";
import { checkpointsAtCommit } from "./batch-checkpoints.js";
import { CheckpointPace } from "./checkpoint-pace.js";
import { CheckpointTimestamps } from "./checkpoint-timestamps.js";

export { sealedColumns } from "./sealed.js"; // where this module keeps sealed values (attesto reseal)
export type { JsonObject } from "./leaf.js";
export type { EventRecord } from "./append.js";
export type { Bundles, BundleView } from "./bundles.js";
export type { ShareLinkView } from "./bundle-shares.js";
export type { CheckpointRecord, CosignatureLine } from "./checkpoints.js";
export type { ForkEvidenceRecord } from "./forks.js";
export type { Stream } from "./streams.js";
export { MAX_PROOF_TIMEOUT_MS, type ProofReceipt, type ReceiptStats } from "./receipts.js";
export { appendsWithoutJobs } from "./appends-without-jobs.js";
export type { ProofstreamDeps, ProofstreamSettings } from "./settings.js";
import type { ProofstreamDeps, ProofstreamSettings } from "./settings.js";

/**
 * The Proofstream domain of one process: streams, group-committed appends,
 * signed checkpoints, proofs, fork evidence and the tlog-tiles read path.
 * Every call that takes a tenant is scoped by it: another tenant's stream
 * reads as missing. `start()` schedules checkpoint closing and the
 * self-audit (one run per tick across all instances).
 */
export class Proofstreams {
  readonly tiles: TlogTiles;
  /** Verifier bundles, built by a job of this module. */
  readonly bundles: Bundles;
  readonly rotations: KeyRotations;
  readonly #tileCache: TileCache;
  readonly #leafCache: LeafCache;
  readonly #heads: StreamHeads;
  readonly #appender: Appender;
  readonly #streamCreator: StreamCreator;
  readonly #checkpointer: Checkpointer;
  readonly #receipts: ReceiptWaiter;
  readonly #announcements: CheckpointAnnouncements;
  readonly #signerWithoutQueue: SignerWithoutQueue;
  /** When a busy stream's periodic checkpoint is due in its commit (and how many were: /metrics). */
  readonly pace: CheckpointPace;
  readonly #signedListeners: Array<(streamId: string, treeSize: number) => void> = [];
  /** For the TSA client (src/timestamp): the latest checkpoint's note, and verified RFC 3161 tokens stored on checkpoints. */
  readonly timestamps = new CheckpointTimestamps(this, () => this.deps.db);
  /** Appends' traces handed to the checkpoint that covers them (tracing on only). */
  readonly #traces = new TraceHandoff();

  constructor(
    private readonly deps: ProofstreamDeps,
    private readonly settings: ProofstreamSettings,
  ) {
    this.#tileCache = new TileCache(settings.tileCacheBytes);
    this.#leafCache = new LeafCache(settings.leafCacheBytes);
    this.#heads = new StreamHeads(settings.headCacheMs);
    this.#announcements = new CheckpointAnnouncements(deps.broadcast, this.#heads);
    const keys = (this.rotations = new KeyRotations(deps, (streamId) => this.#checkpointer.checkpoint(streamId))).keys;
    const pace = (this.pace = new CheckpointPace(settings.checkpointIntervalMs));
    const onSigned = (checkpoint: CheckpointRecord) => {
      pace.signed(checkpoint.streamId);
      this.announceCheckpoint(checkpoint);
      for (const listener of this.#signedListeners) listener(checkpoint.streamId, checkpoint.treeSize);
    };
    this.#appender = new Appender(deps.db, {
      warmStreamBytes: settings.warmStreamBytes,
      logger: deps.logger,
      checkpoints: checkpointsAtCommit(keys, deps.events, pace, (checkpoint, forWaiters) => (forWaiters ? this.#receipts.signedAtCommit() : pace.signedInCommit(), onSigned(checkpoint))),
    });
    this.#streamCreator = new StreamCreator(deps.db, deps.keyring);
    this.#checkpointer = new Checkpointer({
      db: deps.db,
      tileCache: this.#tileCache,
      keys,
      events: deps.events,
      logger: deps.logger,
      onSigned,
      integratePending: () => this.#appender.integratePending(),
      integrate: (streamId, upTo) => this.#appender.integrate(streamId, upTo),
      traces: this.#traces,
    });
    this.#receipts = new ReceiptWaiter(
      {
        sign: async (streamId) => (await this.#checkpointer.checkpoint(streamId)).checkpoint,
        prove: (event, checkpoint) => receiptProof(deps.db, this.#tileCache, event, checkpoint),
        logger: deps.logger,
      },
      { minIntervalMs: settings.receipts.minIntervalMs },
    );
    this.#signerWithoutQueue = new SignerWithoutQueue({ db: deps.db, jobs: deps.jobs, logger: deps.logger, closeGrown: () => this.closeGrownCheckpoints(true) });
    this.tiles = new TlogTiles({ db: deps.db, tileCache: this.#tileCache });
    this.bundles = new Bundles(
      {
        ...{ db: deps.db, keyring: deps.keyring, jobs: deps.jobs, events: deps.events, logger: deps.logger, requestIds: deps.requestIds },
        tileCache: this.#tileCache,
        checkpointer: this.#checkpointer,
        anchorReceipts: deps.anchorReceipts,
      },
      { ...settings.bundles, publicBaseUrl: settings.publicBaseUrl },
    );
  }

  async start(): Promise<void> {
    const { jobs } = this.deps;
    await this.#announcements.start();
    await jobs.every("proofstream.checkpoint", this.settings.checkpointIntervalMs, () => this.closeGrownCheckpoints(true));
    await jobs.every("proofstream.self-audit", this.settings.selfAuditIntervalMs, () => this.selfAudit());
    this.bundles.start();
    this.#signerWithoutQueue.start(this.settings.checkpointIntervalMs);
  }

  /** Its periodic jobs end with the job runtime; the fallback signer's and the receipts' timers end here. */
  async close(): Promise<void> {
    await this.#appender.close();
    this.#signerWithoutQueue.close();
    this.#receipts.close();
    this.#announcements.close();
  }

  /**
   * A new stream with its own signing key; `tx` creates it inside the
   * caller's transaction. A repeated `requestId` (within its window)
   * returns the first stream.
   */
  createStream(tenantId: string, name: string, opts: { tx?: Db; requestId?: string; mlDsa44?: boolean } = {}): Promise<Stream> {
    const { db, keyring, requestIds } = this.deps;
    const mlDsa44 = opts.mlDsa44 ?? false;
    // Nothing to record with it: concurrent creates share one statement.
    if (!opts.tx && !(requestIds && opts.requestId)) return this.#streamCreator.create({ tenantId, name, publicBaseUrl: this.settings.publicBaseUrl(), mlDsa44 });
    return createOnce(
      requestIds,
      opts.tx ?? db,
      opts.requestId ? { scope: tenantId, method: "CreateStream", requestId: opts.requestId, request: { name, mlDsa44 } } : undefined,
      async (tx) => {
        const stream = await createStream(tx, keyring, { tenantId, name, publicBaseUrl: this.settings.publicBaseUrl(), mlDsa44 });
        return { result: stream, resourceId: stream.id };
      },
      (id) => getStream(db, tenantId, id),
    );
  }

  getStream(tenantId: string, streamId: string): Promise<Stream> {
    return getStream(this.deps.db, tenantId, streamId);
  }

  listStreams(tenantId: string, page: PageRequest): Promise<{ streams: Stream[]; nextPageToken: string }> {
    return listStreams(this.deps.db, tenantId, page);
  }

  /** Commits one event (gathered with concurrent ones into one transaction); resolves after the commit. */
  append(input: AppendInput): Promise<AppendResult> {
    if (!tracingEnabled()) return this.#appender.append(input);
    return inSpan("proofstream.append", { attributes: { "proofstream.stream_id": input.streamId } }, async () => {
      const result = await this.#appender.append(input);
      // The checkpoint that will cover this event continues this trace (the first one since the last checkpoint).
      this.#traces.leave(input.streamId);
      return result;
    });
  }

  /**
   * A committed event's proof at write time: waits until a signed checkpoint
   * covers it (signing one now if none does) and answers its tlog-proof, or
   * "pending" when `timeoutMs` (0: the default, capped at the configured
   * most) passes first. The event is durable either way.
   */
  receipt(result: AppendResult, timeoutMs = 0): Promise<ProofReceipt> {
    const max = this.settings.receipts.maxWaitMs;
    return this.#receipts.receipt(result, Math.min(timeoutMs || DEFAULT_PROOF_TIMEOUT_MS, max));
  }

  /** Waits for proof so far: how many, how many proven or pending, checkpoints signed for them (/metrics). */
  receiptStats(): ReceiptStats {
    return this.#receipts.stats();
  }

  /** The appender's warm set: streams and bytes held, the budget, hits and misses (/metrics). */
  warmStreams(): WarmStreamStats {
    return this.#appender.warmStats();
  }

  /** When the event with this source_ref happened, if the stream holds one. */
  occurredAtOf(streamId: string, sourceRef: string): Promise<Date | undefined> {
    return this.#appender.occurredAtOf(streamId, sourceRef);
  }

  getEvent(tenantId: string, streamId: string, ref: EventRef): Promise<EventRecord> {
    return getEvent(this.deps.db, tenantId, streamId, ref);
  }

  listEvents(tenantId: string, streamId: string, filter: EventFilter): Promise<{ events: EventRecord[]; nextPageToken: string }> {
    return listEvents(this.deps.db, tenantId, streamId, filter);
  }

  /** The latest signed checkpoint (size 0) or the one of that size. */
  getCheckpoint(tenantId: string, streamId: string, size = 0): Promise<CheckpointRecord> {
    return getCheckpoint(this.deps.db, tenantId, streamId, size);
  }

  /**
   * Makes a signed checkpoint the one every instance's proof path answers
   * with, at once: this process now, the others through the broadcast. The
   * signer calls it after each signature; call it again whenever a stored
   * checkpoint changes (cosignatures added to its note), with the new record.
   */
  announceCheckpoint(checkpoint: CheckpointRecord): void {
    this.#announcements.announce(checkpoint);
  }

  /** The stream's latest signed checkpoint note with its witness cosignature lines; undefined before the first. */
  latestCheckpointNote(streamId: string): Promise<string | undefined> {
    return latestCheckpointNote(this.deps.db, streamId);
  }

  /** Called in this process after each checkpoint it signs (the witness client queues it for cosignatures). */
  onCheckpointSigned(listener: (streamId: string, treeSize: number) => void): void {
    this.#signedListeners.push(listener);
  }

  /** The latest checkpoint as a witness needs it: origin, size, the note as the log signed it, who cosigned it. */
  latestForWitnesses(streamId: string): Promise<WitnessedCheckpoint | undefined> {
    return latestForWitnesses(this.deps.db, streamId);
  }

  /** The RFC 9162 consistency path between two sizes of a stream (server-internal: no tenant). */
  consistencyHashes(streamId: string, fromSize: number, toSize: number): Promise<Buffer[]> {
    return consistencyProof(this.deps.db, this.#tileCache, streamId, fromSize, toSize);
  }

  /** Stores witness cosignature lines on a checkpoint; the first time `quorum` is met, `proofstream.witnessed` fires. */
  async addCosignatures(streamId: string, treeSize: number, lines: CosignatureLine[], quorum: number) {
    const outcome = await addCosignatures({ db: this.deps.db, events: this.deps.events }, streamId, treeSize, lines, quorum);
    // The checkpoint with its new lines is announced like a fresh signature: every instance's proof path serves it at once.
    if ((outcome.added > 0 || outcome.witnessed) && outcome.checkpoint) this.announceCheckpoint(outcome.checkpoint);
    return outcome;
  }

  /** Signs the stream's tree now if it grew. */
  async createCheckpoint(tenantId: string, streamId: string): Promise<{ checkpoint: CheckpointRecord; created: boolean }> {
    await getStreamRow(this.deps.db, tenantId, streamId);
    return this.#checkpointer.checkpoint(streamId);
  }

  inclusionProof(tenantId: string, streamId: string, leaf: LeafSelector, treeSize = 0): Promise<InclusionProofResult> {
    return inclusionProof(this.deps.db, { tileCache: this.#tileCache, heads: this.#heads }, tenantId, streamId, leaf, treeSize);
  }

  /** An inclusion proof as a C2SP tlog-proof text (the leaf bytes as `extra`, the signed checkpoint verbatim). */
  tlogProofOf(streamId: string, proof: InclusionProofResult): Promise<string> {
    return tlogProofOf(this.deps.db, this.#leafCache, streamId, proof);
  }

  /** The leaf bytes an inclusion proof is about, and the proof as a C2SP tlog-proof. */
  async proofEvidence(streamId: string, proof: InclusionProofResult): Promise<{ leaf: Uint8Array; tlogProof: string }> {
    const leaf = await proofLeafOf(this.deps.db, this.#leafCache, streamId, proof);
    return { leaf, tlogProof: tlogProofText(leaf, proof) };
  }

  /**
   * One event's tlog-proof against the latest checkpoint. `tenantId`
   * undefined reads any tenant's stream (the public read path).
   */
  async tlogProof(tenantId: string | undefined, streamId: string, seqNo: number): Promise<string> {
    const owner = tenantId ?? (await this.tiles.ownerOf(streamId));
    return this.tlogProofOf(streamId, await this.inclusionProof(owner, streamId, { seqNo }));
  }

  consistencyProof(tenantId: string, streamId: string, fromSize: number, toSize = 0) {
    return consistencyProofToCheckpoint(this.deps.db, { tileCache: this.#tileCache, heads: this.#heads }, tenantId, streamId, fromSize, toSize);
  }

  /** Checks a checkpoint signed with the stream's key against history; a contradiction is stored as fork evidence. */
  submitCheckpoint(input: { tenantId: string; streamId: string; note: string; submitter: string }): Promise<SubmitResult> {
    return submitCheckpoint({ db: this.deps.db, tileCache: this.#tileCache, events: this.deps.events }, input);
  }

  listForkEvidence(tenantId: string, filter: { streamId?: string } & PageRequest): Promise<{ evidence: ForkEvidenceRecord[]; nextPageToken: string }> {
    return listForkEvidence(this.deps.db, tenantId, filter);
  }

  getForkEvidence(tenantId: string, id: string): Promise<ForkEvidenceRecord> {
    return getForkEvidence(this.deps.db, tenantId, id);
  }

  /** Every stream's newest signed checkpoint, all tenants, by stream id after `afterStreamId` (anchoring's batch builder). */
  latestCheckpoints(afterStreamId: string, limit: number): Promise<LatestCheckpoint[]> {
    return latestCheckpoints(this.deps.db, afterStreamId, limit);
  }

  /** The stream's history contradicts a root a confirmed anchor carries: fork evidence of source `anchor`. */
  recordAnchorContradiction(input: Parameters<typeof recordAnchorContradiction>[1]): Promise<ForkEvidenceRecord> {
    return recordAnchorContradiction({ db: this.deps.db, events: this.deps.events }, input);
  }

  /** Closes a checkpoint for every stream that grew since its last one, at once; the periodic job (`periodic`) leaves those a commit signed lately. */
  closeGrownCheckpoints(periodic = false): Promise<number> {
    return this.#checkpointer.closeGrown({ skipSignedWithinMs: periodic ? this.pace.recentMs : 0 });
  }

  /** Recomputes a sample of signed checkpoints from stored leaves; a mismatch becomes fork evidence. */
  selfAudit(): Promise<number> {
    return selfAudit(this.deps, { sample: this.settings.selfAuditSample, maxLeaves: this.settings.selfAuditMaxLeaves });
  }
}
