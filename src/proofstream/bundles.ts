import type { Job } from "bullmq";
import { and, asc, eq, gte, lte, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { bundleChunks, bundles, streamEvents as events, streams } from "./schema.js";
import { AppError, invalidArgument, notFound } from "../errors.js";
import { newId } from "../ids.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import { BUNDLE_FORMAT, type AnchorReceipt } from "../verify/bundle.js";
import { rangeProofRanges } from "../verify/merkle.js";
import { formatTlogProof } from "../verify/tlog-proof.js";
import { checkpointOf, type Checkpointer, type CheckpointRecord } from "./checkpoints.js";
import { StreamKeys } from "./keys.js";
import { leafTime } from "./leaf.js";
import { hashRanges, inclusionRanges, nodesOf } from "./merkle/ranges.js";

/** Confirmed anchor receipts of one checkpoint (stream, tree size), in the bundle format. */
export type AnchorReceiptSource = (streamId: string, treeSize: number) => Promise<AnchorReceipt[]>;
import type { TileCache } from "./tile-cache.js";
import type { WebhookEmitter } from "../webhooks/module.js";
import { openNote, verifierKeyString } from "./note.js";
import { createOnce, type RequestIds } from "../request-ids/module.js";
import type { Keyring } from "../crypto/keyring.js";
import { ChunkWriter } from "./bundle-chunks.js";
import { BundleShares, newShareToken, shareTtlMs, type ShareLinkView } from "./bundle-shares.js";
import { getStreamRow } from "./streams.js";

export const BUNDLE_QUEUE = "bundles";

export type BundleRow = typeof bundles.$inferSelect;

export interface BundleSettings {
  /** This deployment's public base URL: verification and download URLs start with it. */
  publicBaseUrl: () => string;
  /** Largest range one bundle may cover. */
  maxEvents: number;
  /** Events read from the database per query while building. */
  pageSize: number;
  /** Size of each stored chunk of the document. */
  chunkBytes: number;
  /** Largest document GetBundle returns inline (bundle_json); larger ones only download. */
  inlineBytes: number;
}

export interface BundleView extends BundleRow {
  verificationUrl: string;
  downloadUrl: string;
  /** The document, when ready and at most `inlineBytes`. */
  bundleJson: string;
  /** The share link CreateBundle made (with its token), when it was asked for one. */
  shareLink?: ShareLinkView;
}

interface BuildJob {
  bundleId: string;
  includeInclusionProofs: boolean;
  /** The share link whose URL proofstream.bundle_ready carries: its id and its token sealed (the queue never holds it in clear). */
  share?: { linkId: string; sealedToken: string };
}

/** The keyring context sealing a share token in a build job. */
const SHARE_TOKEN_CONTEXT = "bundle-share-token";

/**
 * Verifier bundles (attesto.bundle.v1): CreateBundle enqueues a BullMQ job
 * that streams the range from Postgres in pages (memory stays flat however
 * long the range), writes the document as chunked rows (bundle_chunks), and
 * fires `proofstream.bundle_ready` in the transaction that marks it ready.
 */
export class Bundles {
  constructor(
    private readonly deps: {
      db: Db;
      keyring: Keyring;
      jobs: JobRuntime;
      events: WebhookEmitter;
      logger: Logger;
      tileCache: TileCache;
      checkpointer: Checkpointer;
      requestIds?: RequestIds;
      /** Anchor receipts of a checkpoint, from the anchoring module when it is composed in. */
      anchorReceipts?: AnchorReceiptSource;
    },
    readonly settings: BundleSettings,
  ) {
    this.shares = new BundleShares({ db: deps.db, requestIds: deps.requestIds }, settings.publicBaseUrl);
  }

  /** Share links: created, revoked, and looked up by token for the public fetch. */
  readonly shares: BundleShares;

  /** Registers the build worker (worker roles only; every role can enqueue). */
  start(): void {
    this.deps.jobs.process<BuildJob>(BUNDLE_QUEUE, (job) => this.#build(job), 1, { lockDuration: 60_000 });
  }

  /** Workers and queues belong to the job runtime, which closes them. */
  async close(): Promise<void> {}

  /**
   * Starts a bundle build. A repeated `requestId` (within its window)
   * returns the first bundle. The bundle row commits before its job is
   * queued (a worker must find it), so it is written outside the request id's
   * transaction: a crash between the two lets a retry build a second bundle.
   */
  create(tenantId: string, input: BundleInput, requestId?: string): Promise<BundleView> {
    return createOnce(
      this.deps.requestIds,
      this.deps.db,
      requestId ? { scope: tenantId, method: "CreateBundle", requestId, request: input } : undefined,
      async () => {
        const view = await this.#create(tenantId, input);
        return { result: view, resourceId: view.id, secret: view.shareLink?.token };
      },
      async (id, token) => {
        const view = await this.get(tenantId, id);
        const link = token ? await this.shares.live(token) : undefined;
        return link ? { ...view, shareLink: { ...(await this.shares.get(tenantId, link.id)), url: this.shares.url(token!), token: token! } } : view;
      },
    );
  }

  async #create(tenantId: string, input: BundleInput): Promise<BundleView> {
    const { db } = this.deps;
    if (input.fromSeqNo > input.toSeqNo) throw invalidArgument("to_seq_no", "must not be below from_seq_no");
    if (!input.share && input.shareTtlMs !== undefined) throw invalidArgument("share_ttl", "applies only with share");
    const shareTtl = input.share ? shareTtlMs("share_ttl", input.shareTtlMs) : undefined;
    const count = input.toSeqNo - input.fromSeqNo + 1;
    if (count > this.settings.maxEvents) throw invalidArgument("to_seq_no", `a bundle covers at most ${this.settings.maxEvents} events; this range has ${count}`);
    const stream = await getStreamRow(db, tenantId, input.streamId);
    if (input.toSeqNo > stream.treeSize)
      throw new AppError("failed_precondition", `to_seq_no ${input.toSeqNo} is beyond the stream's ${stream.treeSize} events`, { field: "to_seq_no", reason: "RANGE_BEYOND_STREAM" });
    const [row] = await db
      .insert(bundles)
      .values({
        id: newId("bundle"),
        tenantId,
        streamId: stream.id,
        fromSeqNo: input.fromSeqNo,
        toSeqNo: input.toSeqNo,
        includePayloads: input.includePayloads,
        includeInclusionProofs: input.includeInclusionProofs,
      })
      .returning();
    const token = shareTtl === undefined ? undefined : newShareToken();
    const shareLink = token === undefined ? undefined : await this.shares.insert(db, tenantId, row!.id, token, shareTtl!);
    const share = shareLink && { linkId: shareLink.id, sealedToken: this.deps.keyring.encrypt(SHARE_TOKEN_CONTEXT, token!, row!.id).toString("base64") };
    try {
      await this.deps.jobs.queue(BUNDLE_QUEUE).add("build", { bundleId: row!.id, includeInclusionProofs: input.includeInclusionProofs, share } satisfies BuildJob, {
        jobId: row!.id,
        removeOnComplete: 1000,
        removeOnFail: 1000,
      });
    } catch (err) {
      await db.delete(bundles).where(eq(bundles.id, row!.id));
      throw new AppError("unavailable", "the job queue is unavailable; try again", { reason: "QUEUE_UNAVAILABLE", retryAfterSeconds: 5 }, { cause: err });
    }
    return { ...(await this.#view(row!)), shareLink };
  }

  async get(tenantId: string, bundleId: string): Promise<BundleView> {
    const [row] = await this.deps.db
      .select()
      .from(bundles)
      .where(and(eq(bundles.id, bundleId), eq(bundles.tenantId, tenantId)))
      .limit(1);
    if (!row) throw notFound("bundle");
    return this.#view(row, true);
  }

  /** A ready bundle of the tenant (any tenant when `tenantId` is undefined: public downloads). */
  async readyRow(tenantId: string | undefined, bundleId: string): Promise<BundleRow> {
    const [row] = await this.deps.db
      .select()
      .from(bundles)
      .where(and(eq(bundles.id, bundleId), tenantId ? eq(bundles.tenantId, tenantId) : undefined))
      .limit(1);
    if (!row) throw notFound("bundle");
    if (row.status !== "ready") throw new AppError("failed_precondition", `bundle ${row.id} is ${row.status}, not ready`, { reason: "BUNDLE_NOT_READY" });
    return row;
  }

  /** The document, chunk by chunk: one chunk in memory at a time. */
  async *chunks(bundleId: string): AsyncGenerator<Uint8Array> {
    for (let idx = 0; ; idx++) {
      const [chunk] = await this.deps.db
        .select({ data: bundleChunks.data })
        .from(bundleChunks)
        .where(and(eq(bundleChunks.bundleId, bundleId), eq(bundleChunks.idx, idx)))
        .limit(1);
      if (!chunk) return;
      yield chunk.data;
    }
  }

  async #view(row: BundleRow, withDocument = false): Promise<BundleView> {
    const base = this.settings.publicBaseUrl().replace(/\/+$/, "");
    let bundleJson = "";
    if (withDocument && row.status === "ready" && row.sizeBytes <= this.settings.inlineBytes) {
      const parts: Uint8Array[] = [];
      for await (const chunk of this.chunks(row.id)) parts.push(chunk);
      bundleJson = Buffer.concat(parts).toString("utf8");
    }
    return {
      ...row,
      verificationUrl: `${base}/verify?bundle=${row.id}`,
      downloadUrl: row.status === "ready" ? `${base}/bundles/${row.id}/download` : "",
      bundleJson,
    };
  }

  /** What proofstream.bundle_ready says of where to verify: the share link CreateBundle made while it works, else the plain page. */
  async #verification(data: BuildJob, row: BundleRow) {
    let token: string | undefined;
    try {
      token = data.share && this.deps.keyring.decryptText(SHARE_TOKEN_CONTEXT, Buffer.from(data.share.sealedToken, "base64"), row.id);
    } catch (err) {
      // Sealed under another master key (an instance of another deployment took the job): the event names the plain page.
      this.deps.logger.warn({ err, bundleId: row.id }, "the build job's share token does not open; proofstream.bundle_ready names the plain /verify page");
    }
    const link = token ? await this.shares.live(token) : undefined;
    if (!link) return { verification_url: (await this.#view({ ...row, status: "ready" })).verificationUrl, verification_url_shared: false };
    return { verification_url: this.shares.url(token!), verification_url_shared: true, share_link_id: link.id, share_expires_at: link.expiresAt.toISOString() };
  }

  async #build(job: Job<BuildJob>): Promise<void> {
    const { db, logger } = this.deps;
    const [row] = await db.select().from(bundles).where(eq(bundles.id, job.data.bundleId)).limit(1);
    if (!row || row.status !== "pending") return;
    try {
      await this.#write(job, row);
    } catch (err) {
      const reason = err instanceof AppError && err.code !== "internal" ? err.message : "internal error while building the bundle";
      logger.error({ err, bundleId: row.id }, "bundle build failed");
      await db.update(bundles).set({ status: "failed", failureReason: reason, completedAt: new Date() }).where(eq(bundles.id, row.id));
      throw err;
    }
  }

  async #write(job: Job<BuildJob>, row: BundleRow): Promise<void> {
    const { db, tileCache, checkpointer } = this.deps;
    // A retried job starts over.
    await db.delete(bundleChunks).where(eq(bundleChunks.bundleId, row.id));
    const [stream] = await db.select().from(streams).where(eq(streams.id, row.streamId)).limit(1);
    if (!stream) throw notFound("stream");

    // The latest checkpoint if it covers the range, else one signed now over the whole tree.
    let checkpoint: CheckpointRecord | undefined = stream.checkpointSize >= row.toSeqNo ? await checkpointOf(db, stream) : undefined;
    if (!checkpoint) checkpoint = (await checkpointer.checkpoint(stream.id)).checkpoint;
    const size = checkpoint.treeSize;
    const keys = await StreamKeys.verifierKeys(db, stream.id, stream.origin);
    // The Ed25519 key names the bundle (every verifier reads it); an ML-DSA-44 line rides along in the note.
    const signedBy = openNote(
      checkpoint.note,
      keys.verifiers.filter((v) => v.type === undefined),
    ).verifiedBy[0];
    if (!signedBy) throw new AppError("internal", `checkpoint ${size} of ${stream.id} verifies with none of its keys`);

    const rotations = keys.rotations.filter((r) => r.takesOverAfter < size).map((r) => r.statement); // from the first key to the checkpoint's signer, oldest first
    const ranges = rangeProofRanges(row.fromSeqNo - 1, row.toSeqNo, size);
    const lookup = await tileCache.readNodes(db, stream.id, nodesOf(ranges));
    const rangeProof = hashRanges(ranges, lookup).map((h) => h.toString("hex"));

    const out = new ChunkWriter(db, row.id, this.settings.chunkBytes);
    const header = {
      format: BUNDLE_FORMAT,
      stream_id: stream.id,
      origin: stream.origin,
      verifier_key: verifierKeyString(signedBy.name, signedBy.publicKey),
      from_seq_no: row.fromSeqNo,
      to_seq_no: row.toSeqNo,
      payloads_included: row.includePayloads,
      checkpoint: checkpoint.note,
      range_proof: { tree_size: size, hashes: rangeProof },
      // The checkpoint's receipts from confirmed anchor batches (none while it is not anchored yet).
      anchors: (await this.deps.anchorReceipts?.(stream.id, size)) ?? [],
      ...(checkpoint.timestampToken ? { timestamp_token: checkpoint.timestampToken.toString("base64") } : {}), // its RFC 3161 token, once a TSA gave one
      ...(rotations.length > 0 ? { key_rotations: rotations } : {}), // the key rotation statements, once the stream rotated below this size
    };
    const headerJson = JSON.stringify(header);
    await out.write(`${headerJson.slice(0, -1)},"entries":[`);

    const total = row.toSeqNo - row.fromSeqNo + 1;
    let done = 0;
    for (let from = row.fromSeqNo; from <= row.toSeqNo; from += this.settings.pageSize) {
      const to = Math.min(from + this.settings.pageSize - 1, row.toSeqNo);
      const page = await db
        .select({
          seqNo: events.seqNo,
          sourceRef: events.sourceRef,
          eventType: events.eventType,
          occurredAt: events.occurredAt,
          receivedAt: events.receivedAt,
          payloadSha256: events.payloadSha256,
          leafHash: sql<string>`encode(${events.leafHash}, 'hex')`,
          // The payload as JSON text, spliced in as is: no parse and re-serialization per event.
          payload: row.includePayloads ? sql<string>`${events.payload}::text` : sql<null>`null`,
          leaf: job.data.includeInclusionProofs ? events.leaf : sql<null>`null`,
        })
        .from(events)
        .where(and(eq(events.streamId, stream.id), gte(events.seqNo, from), lte(events.seqNo, to)))
        .orderBy(asc(events.seqNo));
      if (page.length !== to - from + 1) throw new AppError("internal", `events ${from}..${to} of ${stream.id} are incomplete`);
      let proofOf: ((seqNo: number) => Buffer[]) | undefined;
      if (job.data.includeInclusionProofs) {
        const perEntry = page.map((e) => inclusionRanges(e.seqNo - 1, size));
        const nodes = await tileCache.readNodes(db, stream.id, nodesOf(perEntry.flat()));
        proofOf = (seqNo) => hashRanges(perEntry[seqNo - from]!, nodes);
      }
      const s = JSON.stringify;
      const parts = page.map((e) => {
        // One entry of the schema, written directly (the fields are known; strings escaped by JSON.stringify).
        let entry = `{"seq_no":${e.seqNo},"source_ref":${s(e.sourceRef)},"event_type":${s(e.eventType)},"occurred_at":"${leafTime(e.occurredAt)}","received_at":"${leafTime(e.receivedAt)}","payload_sha256":"${e.payloadSha256}","leaf_hash":"${e.leafHash}"`;
        if (e.payload !== null) entry += `,"payload":${e.payload}`;
        if (proofOf && e.leaf) entry += `,"tlog_proof":${s(formatTlogProof({ extra: e.leaf, index: e.seqNo - 1, hashes: proofOf(e.seqNo), checkpoint: checkpoint.note }))}`;
        return `${entry}}`;
      });
      await out.write((done === 0 ? "" : ",") + parts.join(","));
      done += page.length;
      await db.update(bundles).set({ eventsDone: done }).where(eq(bundles.id, row.id));
      await job.updateProgress(Math.floor((done * 100) / total));
    }
    await out.write("]}");
    await out.flush();

    await db.transaction(async (tx) => {
      await tx.update(bundles).set({ status: "ready", eventsDone: done, checkpointSize: size, sizeBytes: out.bytes, completedAt: new Date() }).where(eq(bundles.id, row.id));
      await this.deps.events.emit(tx, row.tenantId, "proofstream.bundle_ready", {
        stream_id: stream.id,
        bundle_id: row.id,
        from_seq_no: row.fromSeqNo,
        to_seq_no: row.toSeqNo,
        ...(await this.#verification(job.data, row)),
      });
    });
    this.deps.events.committed();
  }
}

/** What a bundle covers. */
export interface BundleInput {
  streamId: string;
  fromSeqNo: number;
  toSeqNo: number;
  includePayloads: boolean;
  includeInclusionProofs: boolean;
  /** Also create a share link, living this long (undefined: the default). */
  share?: boolean;
  shareTtlMs?: number;
}
