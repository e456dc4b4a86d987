import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { checkpoints, streams } from "./schema.js";

/** A stream's newest signed checkpoint, whatever its tenant (for anchoring's batch builder). */
export interface LatestCheckpoint {
  tenantId: string;
  streamId: string;
  treeSize: number;
  rootHash: Buffer;
  note: string;
}

/** Every stream's newest signed checkpoint, by stream id, a page at a time. */
export async function latestCheckpoints(db: Db, afterStreamId: string, limit: number): Promise<LatestCheckpoint[]> {
  return db
    .select({ tenantId: streams.tenantId, streamId: streams.id, treeSize: checkpoints.treeSize, rootHash: checkpoints.rootHash, note: checkpoints.note })
    .from(streams)
    .innerJoin(checkpoints, and(eq(checkpoints.streamId, streams.id), eq(checkpoints.treeSize, streams.checkpointSize)))
    .where(and(gt(streams.checkpointSize, 0), afterStreamId ? gt(streams.id, afterStreamId) : sql`true`))
    .orderBy(asc(streams.id))
    .limit(limit);
}
