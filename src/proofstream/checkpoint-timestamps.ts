import { and, eq, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { latestCheckpoint, withCosignatures, type CheckpointRecord } from "./checkpoints.js";
import { checkpoints } from "./schema.js";

/**
 * What the RFC 3161 client (src/timestamp) reads and writes of checkpoints:
 * the stream's latest one (its size, the note as the log signed it, whether
 * it holds a token) and a verified token stored on it. A checkpoint keeps
 * the first token it gets; the changed checkpoint is announced like a fresh
 * signature, so every instance's proof path serves it at once.
 */
export class CheckpointTimestamps {
  constructor(
    /** The facade: it announces changed checkpoints and says when this process signed one. */
    private readonly proofstreams: { announceCheckpoint(checkpoint: CheckpointRecord): void; onCheckpointSigned(listener: (streamId: string, treeSize: number) => void): void },
    private readonly db: () => Db,
  ) {}

  /** Called in this process after each checkpoint it signs. */
  onCheckpointSigned(listener: (streamId: string, treeSize: number) => void): void {
    this.proofstreams.onCheckpointSigned(listener);
  }

  async latestForTimestamp(streamId: string): Promise<{ treeSize: number; logNote: string; timestamped: boolean } | undefined> {
    const checkpoint = await latestCheckpoint(this.db(), streamId);
    return checkpoint ? { treeSize: checkpoint.treeSize, logNote: checkpoint.logNote, timestamped: checkpoint.timestampToken !== null } : undefined;
  }

  /** Stores a token the caller verified on a checkpoint that has none; false when there was nothing to change. */
  async addTimestampToken(streamId: string, treeSize: number, token: Uint8Array, genTime: Date): Promise<boolean> {
    const [row] = await this.db()
      .update(checkpoints)
      .set({ timestampToken: Buffer.from(token), timestampedAt: genTime })
      .where(and(eq(checkpoints.streamId, streamId), eq(checkpoints.treeSize, treeSize), sql`${checkpoints.timestampToken} is null`))
      .returning();
    if (row) this.proofstreams.announceCheckpoint(withCosignatures(row));
    return row !== undefined;
  }
}
