import { inSpan, inSpanAfter, type TraceHandoff } from "../infra/tracing.js";
import { and, desc, eq, gt, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { checkpoints, streams } from "./schema.js";
import { AppError, notFound } from "../errors.js";
import type { Logger } from "../logger.js";
import type { WebhookEmitter } from "../webhooks/module.js";
import type { StreamKeys } from "./keys.js";
import { consistencyRanges } from "./merkle/ranges.js";
import { verifyConsistency } from "../crypto/rfc9162.js";
import { signNoteWith } from "../crypto/note-signing.js";
import { formatCheckpoint } from "./note.js";
import { getStreamRow, type StreamRow } from "./streams.js";
import { CheckpointRetries } from "./checkpoint-retries.js";
import { databaseOutage } from "../db/errors.js";
import type { TileCache } from "./tile-cache.js";

type CheckpointRow = typeof checkpoints.$inferSelect;

/**
 * A signed checkpoint as served: `note` is the note with its witness
 * cosignature lines after the log's own (what GetCheckpoint, the tile
 * path's `checkpoint`, tlog-proofs and bundles carry); `logNote` is the note
 * as the log signed it (what anchors hash).
 */
export type CheckpointRecord = CheckpointRow & { logNote: string };

/** The stored row as served: the log's note followed by the cosignature lines gathered so far. */
export const withCosignatures = (row: CheckpointRow): CheckpointRecord => ({ ...row, note: row.note + row.cosignatures, logNote: row.note });

/** A checkpoint note's origin: its first line. */
const noteOrigin = (note: string) => note.slice(0, note.indexOf("\n"));

/** The `proofstream.checkpointed` event of a checkpoint just stored (its origin is the note's first line). */
export function checkpointedEvent(checkpoint: CheckpointRecord) {
  return {
    stream_id: checkpoint.streamId,
    origin: noteOrigin(checkpoint.logNote),
    tree_size: checkpoint.treeSize,
    root_hash: checkpoint.rootHash.toString("hex"),
    note: checkpoint.logNote,
    signed_at: checkpoint.signedAt.toISOString(),
  };
}

/** The latest signed checkpoint of a stream, whoever owns it (undefined before the first, or for no such stream). */
export async function latestCheckpoint(db: Db, streamId: string): Promise<CheckpointRecord | undefined> {
  const [stream] = await db.select({ id: streams.id, checkpointSize: streams.checkpointSize }).from(streams).where(eq(streams.id, streamId)).limit(1);
  return stream && checkpointOf(db, stream);
}

/** The latest signed checkpoint note of a stream, with its cosignature lines (undefined before the first). */
export async function latestCheckpointNote(db: Db, streamId: string): Promise<string | undefined> {
  return (await latestCheckpoint(db, streamId))?.note;
}

/** The latest signed checkpoint, or the one of an exact size, of a tenant's stream. */
export async function getCheckpoint(db: Db, tenantId: string, streamId: string, size = 0): Promise<CheckpointRecord> {
  const stream = await getStreamRow(db, tenantId, streamId);
  const checkpoint = await checkpointOf(db, stream, size);
  if (!checkpoint) throw notFound(size ? `checkpoint of size ${size}` : "checkpoint");
  return checkpoint;
}

export async function checkpointOf(db: Db, stream: Pick<StreamRow, "id" | "checkpointSize">, size = 0): Promise<CheckpointRecord | undefined> {
  const want = size || stream.checkpointSize;
  if (want === 0) return undefined;
  const [row] = await db
    .select()
    .from(checkpoints)
    .where(and(eq(checkpoints.streamId, stream.id), eq(checkpoints.treeSize, want)))
    .limit(1);
  return row && withCosignatures(row);
}

/** A witness's cosignature line on a checkpoint. */
export interface CosignatureLine {
  witness: string;
  /** `— <witness name> <base64(key id || timestamp || signature)>\n` */
  line: string;
}

const lineWitness = (line: string) => line.slice("— ".length, line.indexOf(" ", "— ".length));

/**
 * Adds witness cosignature lines to a stored checkpoint, one per witness
 * (a witness already present keeps its line). When the lines reach
 * `quorum` for the first time, the checkpoint is witnessed: its time is
 * recorded and `proofstream.witnessed` emitted in the same transaction.
 */
export async function addCosignatures(
  deps: { db: Db; events: WebhookEmitter },
  streamId: string,
  treeSize: number,
  lines: readonly CosignatureLine[],
  quorum: number,
): Promise<{ added: number; witnessed: boolean; checkpoint?: CheckpointRecord }> {
  const outcome = await deps.db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(checkpoints)
      .where(and(eq(checkpoints.streamId, streamId), eq(checkpoints.treeSize, treeSize)))
      .for("update")
      .limit(1);
    if (!row) return { added: 0, witnessed: false };
    const present = new Set(row.cosignatures.split("\n").filter(Boolean).map(lineWitness));
    const fresh = lines.filter((l) => !present.has(l.witness) && present.add(l.witness));
    const count = row.cosignatureCount + fresh.length;
    const witnessedNow = quorum > 0 && count >= quorum && row.witnessedAt === null;
    if (fresh.length === 0 && !witnessedNow) return { added: 0, witnessed: false, checkpoint: withCosignatures(row) };
    const [updated] = await tx
      .update(checkpoints)
      .set({ cosignatures: row.cosignatures + fresh.map((l) => l.line).join(""), cosignatureCount: count, ...(witnessedNow ? { witnessedAt: new Date() } : {}) })
      .where(and(eq(checkpoints.streamId, streamId), eq(checkpoints.treeSize, treeSize)))
      .returning();
    const served = withCosignatures(updated!);
    if (witnessedNow) {
      const [stream] = await tx.select({ tenantId: streams.tenantId }).from(streams).where(eq(streams.id, streamId)).limit(1);
      await deps.events.emit(tx, stream!.tenantId, "proofstream.witnessed", {
        stream_id: streamId,
        tree_size: treeSize,
        root_hash: served.rootHash.toString("hex"),
        note: served.note,
        witnesses: [...present],
        witnessed_at: served.witnessedAt!.toISOString(),
      });
    }
    return { added: fresh.length, witnessed: witnessedNow, checkpoint: served };
  });
  if (outcome.witnessed) deps.events.committed();
  return outcome;
}

/** The consistency path between two sizes, from stored tiles. */
export async function consistencyProof(db: Db, tileCache: TileCache, streamId: string, from: number, to: number): Promise<Buffer[]> {
  return (await tileCache.proof(db, streamId, to, consistencyRanges(from, to))).hashes;
}

/**
 * Signs checkpoints. The signer never signs a checkpoint inconsistent with
 * one it signed before: the new root must extend the last signed one (checked
 * with a consistency proof from storage), and the stream's checkpoint_size is
 * advanced by compare-and-swap in the same transaction as the insert, so two
 * instances can never sign two different trees of one size.
 */
export class Checkpointer {
  constructor(
    private readonly deps: {
      db: Db;
      tileCache: TileCache;
      keys: StreamKeys;
      events: WebhookEmitter;
      logger: Logger;
      onSigned?: (checkpoint: CheckpointRecord) => void;
      /** Hashes into the tree what was sequenced and not integrated (left by a process killed in between), before the periodic signing. */
      integratePending?: () => Promise<unknown>;
      /** Brings one stream's tree up to at least a size: appends on a contended stream answer before their events are in the tree. */
      integrate?: (streamId: string, upTo: number) => Promise<void>;
      traces?: TraceHandoff;
    },
  ) {}

  /** Streams whose signing failed for a reason of their own, held back from the periodic job for a while. */
  readonly #retries = new CheckpointRetries();

  /**
   * Signs the stream's current tree if it grew; else returns the latest
   * checkpoint. When another signer moves first with a smaller tree, it
   * tries again, so the answer always covers the tree as it was at the call.
   */
  async checkpoint(streamId: string): Promise<{ checkpoint: CheckpointRecord; created: boolean }> {
    // Tracing on: continues the trace of the first append it covers (its webhook deliveries then do too).
    return inSpanAfter("proofstream.checkpoint", { attributes: { "proofstream.stream_id": streamId } }, this.deps.traces?.take(streamId), async () => {
      for (let attempt = 0; ; attempt++) {
        const outcome = await this.#trySign(streamId);
        if (outcome.checkpoint || attempt >= 4) return { checkpoint: outcome.checkpoint ?? (await this.#latest(streamId)), created: outcome.created };
      }
    });
  }

  /** One compare-and-swap attempt; no checkpoint when another signer won with a tree smaller than ours. */
  async #trySign(streamId: string): Promise<{ checkpoint?: CheckpointRecord; created: boolean }> {
    const { db, tileCache, keys } = this.deps;
    let [stream] = await db.select().from(streams).where(eq(streams.id, streamId)).limit(1);
    if (!stream) throw notFound("stream");
    if (stream.unintegrated > 0 && this.deps.integrate) {
      // Answered appends whose events are not in the tree yet: the checkpoint must cover them.
      await this.deps.integrate(streamId, stream.treeSize + stream.unintegrated);
      [stream] = await db.select().from(streams).where(eq(streams.id, streamId)).limit(1);
      if (!stream) throw notFound("stream");
    }
    if (stream.treeSize === 0) throw new AppError("failed_precondition", "the stream is empty: nothing to checkpoint", { reason: "STREAM_EMPTY" });
    const previous = await checkpointOf(db, stream);
    if (stream.treeSize === stream.checkpointSize && previous) return { checkpoint: previous, created: false };

    const size = stream.treeSize;
    const root = await tileCache.root(db, streamId, size);
    if (previous) {
      const proof = await consistencyProof(db, tileCache, streamId, previous.treeSize, size);
      if (!verifyConsistency(previous.treeSize, size, proof, previous.rootHash, root)) {
        throw new AppError("internal", `refusing to sign ${streamId} at ${size}: not consistent with the checkpoint at ${previous.treeSize}`);
      }
    }
    const generation = await keys.generation(db, stream);
    const signers = generation.signersAfter(stream.checkpointSize);
    const note = signNoteWith(formatCheckpoint({ origin: stream.origin, size, root }), signers);

    const created = await inSpan("proofstream.checkpoint commit", {}, () =>
      db.transaction(async (tx) => {
        const swapped = await tx
          .update(streams)
          .set({ checkpointSize: size })
          // The key generation too: a rotation committed since the read means these signers are not the stream's any more.
          .where(and(eq(streams.id, streamId), eq(streams.checkpointSize, stream.checkpointSize), eq(streams.keyGeneration, stream.keyGeneration)))
          .returning({ id: streams.id });
        if (swapped.length === 0) return undefined; // another signer moved first, or the keys rotated
        const [row] = await tx
          .insert(checkpoints)
          .values({ streamId, treeSize: size, rootHash: root, note, keyId: signers[0]!.keyId | 0 })
          .returning();
        const served = withCosignatures(row!);
        await this.deps.events.emit(tx, stream.tenantId, "proofstream.checkpointed", checkpointedEvent(served));
        return served;
      }),
    );
    if (created) {
      keys.settled(streamId, generation.generation);
      this.deps.events.committed();
      this.deps.onSigned?.(created);
      return { checkpoint: created, created: true };
    }
    const latest = await this.#latest(streamId);
    return latest.treeSize >= size ? { checkpoint: latest, created: false } : { created: false };
  }

  async #latest(streamId: string): Promise<CheckpointRecord> {
    const [latest] = await this.deps.db.select().from(checkpoints).where(eq(checkpoints.streamId, streamId)).orderBy(desc(checkpoints.treeSize)).limit(1);
    return withCosignatures(latest!);
  }

  /**
   * Closes a checkpoint for every stream that grew since its last one. The
   * periodic job passes `skipSignedWithinMs`: a stream whose latest
   * checkpoint is younger is left to the commits that sign it (CheckpointPace).
   */
  async closeGrown({ limit = 1000, skipSignedWithinMs = 0 }: { limit?: number; skipSignedWithinMs?: number } = {}): Promise<number> {
    try {
      await this.deps.integratePending?.();
    } catch (err) {
      this.deps.logger.error({ err }, "integrating sequenced events failed");
    }
    const grown = await this.deps.db
      .select({ id: streams.id })
      .from(streams)
      .where(
        and(
          gt(streams.treeSize, streams.checkpointSize),
          skipSignedWithinMs > 0
            ? sql`NOT EXISTS (SELECT 1 FROM ${checkpoints} c WHERE c.stream_id = ${streams.id} AND c.tree_size = ${streams.checkpointSize} AND c.signed_at > now() - make_interval(secs => ${skipSignedWithinMs / 1000}))`
            : undefined,
        ),
      )
      .orderBy(sql`${streams.treeSize} - ${streams.checkpointSize} DESC`)
      .limit(limit);
    let signed = 0;
    for (const { id } of grown) {
      if (!this.#retries.due(id, Date.now())) continue;
      try {
        if ((await this.checkpoint(id)).created) signed++;
        const failures = this.#retries.succeeded(id);
        if (failures > 0) this.deps.logger.info({ streamId: id, failures }, "checkpoint signed again after failures");
      } catch (err) {
        if (databaseOutage(err) || (err instanceof AppError && err.code === "unavailable")) {
          // Not the stream's fault: the next tick tries it (and every other) again.
          this.deps.logger.warn({ err, streamId: id }, "checkpoint failed: database unavailable");
          continue;
        }
        const { failures, retryInMs, report } = this.#retries.failed(id, Date.now());
        if (report) this.deps.logger.error({ err, streamId: id, failures, retryInMs }, "checkpoint failed; retried with backoff");
        else this.deps.logger.debug({ streamId: id, failures, retryInMs }, "checkpoint failed again");
      }
    }
    return signed;
  }
}

/** The latest checkpoint as a witness needs it: origin, size, the note as the log signed it, who cosigned it. */
export interface WitnessedCheckpoint {
  origin: string;
  treeSize: number;
  logNote: string;
  cosigners: string[];
}

export async function latestForWitnesses(db: Db, streamId: string): Promise<WitnessedCheckpoint | undefined> {
  const checkpoint = await latestCheckpoint(db, streamId);
  if (!checkpoint) return undefined;
  const cosigners = checkpoint.cosignatures
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ")[1]!);
  return { origin: noteOrigin(checkpoint.logNote), treeSize: checkpoint.treeSize, logNote: checkpoint.logNote, cosigners };
}
