import { LRUCache } from "lru-cache";
import type { Db } from "../db/db.js";
import { notFound } from "../errors.js";
import { checkpointOf, type CheckpointRecord } from "./checkpoints.js";
import { getStreamRow } from "./streams.js";

interface Head {
  tenantId: string;
  checkpointSize: number;
  treeSize: number;
}

/**
 * What the proof path reads on every call, kept in memory: a stream's owner
 * (never changes), its latest checkpoint size (refreshed after `ttlMs`, so
 * "latest" may lag a fresh signature by that much; every answer names the
 * checkpoint it proves against) and signed checkpoints (immutable).
 */
export class StreamHeads {
  readonly #heads: LRUCache<string, Head>;
  readonly #checkpoints = new LRUCache<string, CheckpointRecord>({ max: 100_000 });

  constructor(ttlMs: number) {
    // A zero lifetime still keeps nothing stale: each read asks the database.
    this.#heads = new LRUCache<string, Head>({ max: 100_000, ttl: Math.max(ttlMs, 1) });
  }

  async head(db: Db, tenantId: string, streamId: string, fresh = false): Promise<Head> {
    let head = fresh ? undefined : this.#heads.get(streamId);
    if (!head) {
      const row = await getStreamRow(db, tenantId, streamId);
      head = { tenantId: row.tenantId, checkpointSize: row.checkpointSize, treeSize: row.treeSize };
      this.#heads.set(streamId, head);
    }
    // Another tenant's stream reads as missing, cached or not.
    if (head.tenantId !== tenantId) throw notFound("stream");
    return head;
  }

  /** Drops the cached head, e.g. right after this process signed a checkpoint. */
  forget(streamId: string): void {
    this.#heads.delete(streamId);
  }

  /** A signed checkpoint of the stream (0: the latest known), or undefined. */
  async checkpoint(db: Db, streamId: string, head: Head, size: number): Promise<CheckpointRecord | undefined> {
    const want = size || head.checkpointSize;
    if (want === 0) return undefined;
    const key = `${streamId}/${want}`;
    let checkpoint = this.#checkpoints.get(key);
    if (!checkpoint) {
      checkpoint = await checkpointOf(db, { id: streamId, checkpointSize: head.checkpointSize }, want);
      if (checkpoint) this.#checkpoints.set(key, checkpoint);
    }
    return checkpoint;
  }
}
