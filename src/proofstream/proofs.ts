import { and, asc, eq } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { streamEvents } from "./schema.js";
import { AppError, invalidArgument, notFound } from "../errors.js";
import { consistencyProof, type CheckpointRecord } from "./checkpoints.js";
import type { StreamHeads } from "./heads.js";
import { inclusionRanges } from "./merkle/ranges.js";
import type { TileCache } from "./tile-cache.js";

export interface InclusionProofResult {
  leafIndex: number;
  treeSize: number;
  leafHash: Buffer;
  hashes: Buffer[];
  checkpoint: CheckpointRecord;
}

export type LeafSelector = { seqNo: number } | { leafHash: Buffer };

async function signedCheckpoint(db: Db, heads: StreamHeads, tenantId: string, streamId: string, size: number) {
  let head = await heads.head(db, tenantId, streamId);
  let checkpoint = await heads.checkpoint(db, streamId, head, size);
  if (!checkpoint) {
    // Maybe signed since the head was cached: look again before answering not found.
    head = await heads.head(db, tenantId, streamId, true);
    checkpoint = await heads.checkpoint(db, streamId, head, size);
  }
  if (!checkpoint) throw notFound(size ? `signed checkpoint of size ${size}` : "signed checkpoint");
  return { head, checkpoint };
}

/** RFC 9162 inclusion proof of one leaf in a signed checkpoint (0: the latest). */
export async function inclusionProof(
  db: Db,
  { tileCache, heads }: { tileCache: TileCache; heads: StreamHeads },
  tenantId: string,
  streamId: string,
  leaf: LeafSelector,
  treeSize = 0,
): Promise<InclusionProofResult> {
  const { checkpoint } = await signedCheckpoint(db, heads, tenantId, streamId, treeSize);
  let seqNo: number;
  if ("seqNo" in leaf) {
    seqNo = leaf.seqNo;
  } else {
    const [row] = await db
      .select({ seqNo: streamEvents.seqNo })
      .from(streamEvents)
      .where(and(eq(streamEvents.streamId, streamId), eq(streamEvents.leafHash, leaf.leafHash)))
      .orderBy(asc(streamEvents.seqNo))
      .limit(1);
    if (!row) throw notFound("leaf");
    seqNo = row.seqNo;
  }
  const leafIndex = seqNo - 1;
  if (leafIndex >= checkpoint.treeSize) {
    if (seqNo > (await heads.head(db, tenantId, streamId, true)).treeSize) throw notFound(`event ${seqNo}`);
    throw new AppError("failed_precondition", `event ${seqNo} is not covered by the checkpoint of size ${checkpoint.treeSize}`, { reason: "NOT_IN_CHECKPOINT" });
  }
  const { hashes, extra } = await tileCache.proof(db, streamId, checkpoint.treeSize, inclusionRanges(leafIndex, checkpoint.treeSize), [{ level: 0, index: leafIndex }]);
  return { leafIndex, treeSize: checkpoint.treeSize, leafHash: extra[0]!, hashes, checkpoint };
}

/** RFC 9162 consistency proof from `fromSize` to a signed checkpoint (0: the latest). */
export async function consistencyProofToCheckpoint(db: Db, { tileCache, heads }: { tileCache: TileCache; heads: StreamHeads }, tenantId: string, streamId: string, fromSize: number, toSize = 0) {
  if (toSize && fromSize > toSize) throw invalidArgument("from_size", "must not exceed to_size");
  const { checkpoint } = await signedCheckpoint(db, heads, tenantId, streamId, toSize);
  if (fromSize > checkpoint.treeSize) throw invalidArgument("from_size", `must not exceed the checkpoint's size ${checkpoint.treeSize}`);
  const hashes = await consistencyProof(db, tileCache, streamId, fromSize, checkpoint.treeSize);
  return { fromSize, toSize: checkpoint.treeSize, hashes, checkpoint };
}
