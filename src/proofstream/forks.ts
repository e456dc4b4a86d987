import { createHash } from "node:crypto";
import { and, asc, desc, eq, gt, lt, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { checkpoints, streamEvents, forkEvidence, streams } from "./schema.js";
import { invalidArgument, notFound } from "../errors.js";
import { newId } from "../ids.js";
import { pageOf, pageWindow } from "../db/pagination.js";
import type { Logger } from "../logger.js";
import type { WebhookEmitter } from "../webhooks/module.js";
import { checkpointOf, consistencyProof, type CheckpointRecord } from "./checkpoints.js";
import { StreamKeys } from "./keys.js";
import { RootAccumulator } from "./merkle/accumulator.js";
import { leafHash } from "../crypto/rfc9162.js";
import { verifyConsistency } from "../crypto/rfc9162.js";
import { NoteError, openNote, parseCheckpoint } from "./note.js";
import { getStreamRow, type StreamRow } from "./streams.js";
import type { TileCache } from "./tile-cache.js";

export type ForkEvidenceRecord = typeof forkEvidence.$inferSelect;
type NewEvidence = Omit<typeof forkEvidence.$inferInsert, "id" | "streamId" | "tenantId" | "detectedAt">;

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Stores evidence once per dedupe key, firing proofstream.fork_detected the first time. */
export async function recordEvidence(db: Db, events: WebhookEmitter, stream: StreamRow, evidence: NewEvidence): Promise<ForkEvidenceRecord> {
  let emitted = false;
  const record = await db.transaction(async (tx) => {
    const [inserted] = await tx
      .insert(forkEvidence)
      .values({ ...evidence, id: newId("fork"), streamId: stream.id, tenantId: stream.tenantId })
      .onConflictDoNothing({ target: [forkEvidence.streamId, forkEvidence.dedupeKey] })
      .returning();
    if (!inserted) {
      const [existing] = await tx
        .select()
        .from(forkEvidence)
        .where(and(eq(forkEvidence.streamId, stream.id), eq(forkEvidence.dedupeKey, evidence.dedupeKey)));
      return existing!;
    }
    await events.emit(tx, stream.tenantId, "proofstream.fork_detected", {
      stream_id: stream.id,
      fork_evidence_id: inserted.id,
      kind: inserted.kind,
      source: inserted.source,
      history_size: inserted.historySize,
      conflicting_size: inserted.conflictingSize,
      detected_at: inserted.detectedAt.toISOString(),
    });
    emitted = true;
    return inserted;
  });
  if (emitted) events.committed();
  return record;
}

export interface SubmitResult {
  consistent: boolean;
  evidence?: ForkEvidenceRecord;
  latest?: CheckpointRecord;
  consistencyProof?: { fromSize: number; toSize: number; hashes: Buffer[] };
}

/**
 * Checks a checkpoint signed with this stream's key against history. A valid
 * signature on a tree that history contradicts is fork evidence: either the
 * key signed two trees of one size, or there is no consistency proof between
 * it and what was signed.
 */
export async function submitCheckpoint(
  deps: { db: Db; tileCache: TileCache; events: WebhookEmitter },
  input: { tenantId: string; streamId: string; note: string; submitter: string },
): Promise<SubmitResult> {
  const { db, tileCache } = deps;
  const stream = await getStreamRow(db, input.tenantId, input.streamId);
  const verifiers = await StreamKeys.noteVerifiers(db, stream.id, stream.origin);
  let body;
  try {
    const opened = openNote(input.note, verifiers);
    if (opened.verifiedBy.length === 0) throw invalidArgument("note", "no signature verifies with this stream's checkpoint keys");
    body = parseCheckpoint(opened.text);
  } catch (err) {
    if (err instanceof NoteError) throw invalidArgument("note", err.message);
    throw err;
  }
  if (body.origin !== stream.origin) throw invalidArgument("note", "the checkpoint's origin is not this stream's");

  const latest = await checkpointOf(db, stream);
  const same = await checkpointOf(db, stream, body.size);
  const fork = (kind: NewEvidence["kind"], history: CheckpointRecord | undefined, attempt: NewEvidence["proofAttempt"]) =>
    recordEvidence(db, deps.events, stream, {
      kind,
      source: "submitted_checkpoint",
      sourceDetail: input.submitter,
      historyNote: history?.note ?? "",
      conflictingNote: input.note,
      historySize: history?.treeSize ?? stream.treeSize,
      conflictingSize: body.size,
      historyRoot: history?.rootHash ?? Buffer.alloc(0),
      conflictingRoot: body.root,
      proofAttempt: attempt,
      dedupeKey: createHash("sha256").update(input.note).digest("hex"),
    });

  if (same) {
    if (same.rootHash.equals(body.root)) return consistentWith(body.size);
    const evidence = await fork("same_size_different_root", same, {
      fromSize: body.size,
      toSize: body.size,
      hashes: [],
      failure: `two signed roots at size ${body.size}: ${hex(same.rootHash)} and ${hex(body.root)}`,
    });
    return { consistent: false, evidence, latest };
  }

  if (body.size > 0 && body.size <= stream.treeSize) {
    const ours = await tileCache.root(db, stream.id, body.size);
    if (ours.equals(body.root)) return consistentWith(body.size);
    // Try what a client would: prove the submitted tree is a prefix of the latest signed one.
    const target = latest && latest.treeSize >= body.size ? latest : undefined;
    const hashes = target ? await consistencyProof(db, tileCache, stream.id, body.size, target.treeSize) : [];
    const verified = target ? verifyConsistency(body.size, target.treeSize, hashes, body.root, target.rootHash) : false;
    const evidence = await fork("inconsistent", target ?? latest, {
      fromSize: body.size,
      toSize: target?.treeSize ?? body.size,
      hashes: hashes.map(hex),
      failure: verified ? "unexpected: proof verified" : `history's root at size ${body.size} is ${hex(ours)}, the note says ${hex(body.root)}`,
    });
    return { consistent: false, evidence, latest };
  }

  const evidence = await fork("inconsistent", latest, {
    fromSize: latest?.treeSize ?? 0,
    toSize: body.size,
    hashes: [],
    failure: `no consistency proof possible: history holds ${stream.treeSize} events, the note claims ${body.size}`,
  });
  return { consistent: false, evidence, latest };

  async function consistentWith(size: number): Promise<SubmitResult> {
    if (!latest || latest.treeSize <= size) return { consistent: true, latest };
    const hashes = await consistencyProof(db, tileCache, stream.id, size, latest.treeSize);
    return { consistent: true, latest, consistencyProof: { fromSize: size, toSize: latest.treeSize, hashes } };
  }
}

export async function getForkEvidence(db: Db, tenantId: string, id: string): Promise<ForkEvidenceRecord> {
  const [row] = await db
    .select()
    .from(forkEvidence)
    .where(and(eq(forkEvidence.id, id), eq(forkEvidence.tenantId, tenantId)))
    .limit(1);
  if (!row) throw notFound("fork evidence");
  return row;
}

/** Newest first. */
export async function listForkEvidence(db: Db, tenantId: string, f: { streamId?: string; pageSize?: number; pageToken?: string }) {
  if (f.streamId) await getStreamRow(db, tenantId, f.streamId);
  const win = pageWindow(f);
  const { fetch, after: before } = win;
  const rows = await db
    .select()
    .from(forkEvidence)
    .where(and(eq(forkEvidence.tenantId, tenantId), f.streamId ? eq(forkEvidence.streamId, f.streamId) : undefined, before ? lt(forkEvidence.id, before) : undefined))
    .orderBy(desc(forkEvidence.id))
    .limit(fetch);
  const page = pageOf(rows, win, (r) => r.id);
  return { evidence: page.items, nextPageToken: page.nextPageToken };
}

const AUDIT_CHUNK = 5_000;

/**
 * The self-audit: recompute the roots of a sample of signed checkpoints from
 * the stored leaf bytes (not from the tiles that proofs use) and record
 * evidence on any mismatch. Returns how many checkpoints were audited.
 */
export async function selfAudit(deps: { db: Db; events: WebhookEmitter; logger: Logger }, opts: { sample: number; maxLeaves: number }): Promise<number> {
  const { db } = deps;
  const sample = await db
    .select()
    .from(checkpoints)
    .where(sql`${checkpoints.treeSize} <= ${opts.maxLeaves}`)
    .orderBy(sql`random()`)
    .limit(opts.sample);
  for (const checkpoint of sample) {
    const acc = new RootAccumulator();
    while (acc.size < checkpoint.treeSize) {
      const rows = await db
        .select({ seqNo: streamEvents.seqNo, leaf: streamEvents.leaf })
        .from(streamEvents)
        .where(and(eq(streamEvents.streamId, checkpoint.streamId), gt(streamEvents.seqNo, acc.size)))
        .orderBy(asc(streamEvents.seqNo))
        .limit(Math.min(AUDIT_CHUNK, checkpoint.treeSize - acc.size));
      if (rows.length === 0) break;
      for (const row of rows) {
        if (row.seqNo !== acc.size + 1) break; // a gap: the root below cannot match
        acc.push(leafHash(row.leaf));
      }
      if (rows[rows.length - 1]!.seqNo !== acc.size) break;
    }
    const recomputed = acc.root();
    if (acc.size === checkpoint.treeSize && recomputed.equals(checkpoint.rootHash)) continue;
    const [stream] = await db.select().from(streams).where(eq(streams.id, checkpoint.streamId));
    deps.logger.error({ streamId: checkpoint.streamId, treeSize: checkpoint.treeSize }, "self-audit mismatch: recording fork evidence");
    await recordEvidence(db, deps.events, stream!, {
      kind: "self_audit_mismatch",
      source: "self_audit",
      sourceDetail: "",
      historyNote: checkpoint.note,
      conflictingNote: "",
      historySize: checkpoint.treeSize,
      conflictingSize: acc.size,
      historyRoot: checkpoint.rootHash,
      conflictingRoot: recomputed,
      proofAttempt: {
        fromSize: checkpoint.treeSize,
        toSize: checkpoint.treeSize,
        hashes: [],
        failure: `stored leaves 1..${acc.size} hash to ${hex(recomputed)}, the checkpoint says ${hex(checkpoint.rootHash)}`,
      },
      dedupeKey: `self_audit:${checkpoint.treeSize}:${hex(recomputed)}`,
    });
  }
  return sample.length;
}

/**
 * A stream whose history contradicts a root that a confirmed anchor batch
 * carries (no consistency proof from it to the newest checkpoint): stored as
 * fork evidence of source `anchor`, once per anchored root.
 */
export async function recordAnchorContradiction(
  deps: { db: Db; events: WebhookEmitter },
  input: {
    streamId: string;
    anchored: { treeSize: number; rootHash: Buffer; note: string; batchId: string; txHash: string };
    current: { treeSize: number; rootHash: Buffer; note: string };
    proof: Buffer[];
    failure: string;
  },
): Promise<ForkEvidenceRecord> {
  const [stream] = await deps.db.select().from(streams).where(eq(streams.id, input.streamId));
  if (!stream) throw notFound("stream");
  return recordEvidence(deps.db, deps.events, stream, {
    kind: "anchor_contradiction",
    source: "anchor",
    sourceDetail: `${input.anchored.batchId} ${input.anchored.txHash}`,
    historyNote: input.current.note,
    conflictingNote: input.anchored.note,
    historySize: input.current.treeSize,
    conflictingSize: input.anchored.treeSize,
    historyRoot: input.current.rootHash,
    conflictingRoot: input.anchored.rootHash,
    proofAttempt: { fromSize: input.anchored.treeSize, toSize: input.current.treeSize, hashes: input.proof.map(hex), failure: input.failure },
    dedupeKey: `anchor:${input.anchored.treeSize}:${hex(input.anchored.rootHash)}:${input.current.treeSize}`,
  });
}
