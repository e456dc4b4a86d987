import { eq } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Db } from "../db/db.js";
import { notFound } from "../errors.js";
import { checkpointOf, type CheckpointRecord } from "./checkpoints.js";
import { streams } from "./schema.js";

export interface Head {
  tenantId: string;
  checkpointSize: number;
  treeSize: number;
}

/**
 * What the proof path reads on every call, kept in memory: a stream's owner
 * (never changes), its latest checkpoint size (refreshed after `ttlMs`, so
 * "latest" may lag a fresh signature by that much; every answer names the
 * checkpoint it proves against) and signed checkpoints (immutable).
 *
 * Reads of one stream's head are single-flight: when the cached head
 * expires under load, the proofs in flight share one read of the row
 * instead of each reading it.
 */
export class StreamHeads {
  readonly #heads: LRUCache<string, Head>;
  readonly #reading = new Map<string, Promise<Head | undefined>>();
  /**
   * Signed checkpoints by stream, then by size. A checkpoint's log
   * signatures never change, but witness cosignatures join it later: one
   * not yet witnessed is kept for `ttlMs` only, so cosignatures added by
   * another process are served within that time (this process's own
   * additions forget it at once).
   */
  readonly #checkpoints = new LRUCache<string, Map<number, { record: CheckpointRecord; at: number }>>({ max: 100_000 });
  readonly #ttlMs: number;

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
    // A zero lifetime still keeps nothing stale: each read asks the database.
    this.#heads = new LRUCache<string, Head>({ max: 100_000, ttl: Math.max(ttlMs, 1) });
  }

  async head(db: Db, tenantId: string, streamId: string, fresh = false): Promise<Head> {
    const head = (fresh ? undefined : this.#heads.get(streamId)) ?? (await this.#read(db, streamId, fresh));
    // Another tenant's stream reads as missing, cached or not.
    if (!head || head.tenantId !== tenantId) throw notFound("stream");
    return head;
  }

  /**
   * The stream row by id alone (the tenant is checked by the caller, so
   * requests of any tenant can share the read). A fresh read must see what
   * committed before it was asked for, so it never joins one in flight.
   */
  #read(db: Db, streamId: string, fresh: boolean): Promise<Head | undefined> {
    const inFlight = fresh ? undefined : this.#reading.get(streamId);
    if (inFlight) return inFlight;
    const read = readHead(db, streamId).then((head) => {
      if (head) this.#heads.set(streamId, head);
      return head;
    });
    if (!fresh) {
      this.#reading.set(streamId, read);
      const done = () => {
        if (this.#reading.get(streamId) === read) this.#reading.delete(streamId);
      };
      read.then(done, done);
    }
    return read;
  }

  /** Drops the cached head and checkpoints, e.g. right after this process signed a checkpoint or added cosignatures. */
  forget(streamId: string): void {
    this.#heads.delete(streamId);
    this.#checkpoints.delete(streamId);
  }

  /** A signed checkpoint of the stream (0: the latest known), or undefined. */
  async checkpoint(db: Db, streamId: string, head: Head, size: number): Promise<CheckpointRecord | undefined> {
    const want = size || head.checkpointSize;
    if (want === 0) return undefined;
    let bySize = this.#checkpoints.get(streamId);
    const cached = bySize?.get(want);
    if (cached && (cached.record.witnessedAt !== null || Date.now() - cached.at < this.#ttlMs)) return cached.record;
    const checkpoint = await checkpointOf(db, { id: streamId, checkpointSize: head.checkpointSize }, want);
    if (checkpoint) {
      bySize = this.#checkpoints.get(streamId);
      if (!bySize) this.#checkpoints.set(streamId, (bySize = new Map()));
      // Older sizes are asked for rarely: keep the map small by starting over.
      if (bySize.size >= 64) bySize.clear();
      bySize.set(want, { record: checkpoint, at: Date.now() });
    }
    return checkpoint;
  }
}

async function readHead(db: Db, streamId: string): Promise<Head | undefined> {
  const [row] = await db.select({ tenantId: streams.tenantId, checkpointSize: streams.checkpointSize, treeSize: streams.treeSize }).from(streams).where(eq(streams.id, streamId)).limit(1);
  return row;
}
