import { eq } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Db } from "../db/db.js";
import { notFound } from "../errors.js";
import { checkpointOf, type CheckpointRecord } from "./checkpoints.js";
import { streams } from "./schema.js";
import { ownBytes } from "../infra/own-bytes.js";

export interface Head {
  tenantId: string;
  checkpointSize: number;
  treeSize: number;
}

/**
 * What the proof path reads on every call, kept in memory: a stream's owner
 * (never changes), its latest checkpoint size and signed checkpoints
 * (immutable but for cosignatures a checkpoint gains later). A new or
 * changed checkpoint is announced (`announced`: by the signer, on every
 * instance through the broadcast), which updates the head and the record
 * at once; `ttlMs` only bounds how long a head is trusted when an
 * announcement is lost (every answer names the checkpoint it proves against).
 *
 * Reads of one stream's head are single-flight: when the cached head
 * expires under load, the proofs in flight share one read of the row
 * instead of each reading it.
 */
export class StreamHeads {
  readonly #heads: LRUCache<string, Head>;
  readonly #reading = new Map<string, Promise<Head | undefined>>();
  /** Signed checkpoints by stream, then by size. */
  readonly #checkpoints = new LRUCache<string, Map<number, CheckpointRecord>>({ max: 100_000 });

  constructor(ttlMs: number) {
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

  /** Drops the cached head. */
  forget(streamId: string): void {
    this.#heads.delete(streamId);
  }

  /**
   * A signed checkpoint announced by its signer (or again with new
   * cosignatures): kept as the record of its size, and as the stream's
   * latest when it is newer than the cached head says (which it refreshes).
   */
  announced(checkpoint: CheckpointRecord): void {
    const { streamId, treeSize } = checkpoint;
    const head = this.#heads.get(streamId);
    if (head && head.checkpointSize <= treeSize) this.#heads.set(streamId, { ...head, checkpointSize: treeSize, treeSize: Math.max(head.treeSize, treeSize) });
    const bySize = this.#checkpoints.get(streamId);
    if (bySize) {
      if (bySize.size >= 64 && !bySize.has(treeSize)) bySize.clear();
      bySize.set(treeSize, kept(checkpoint));
    } else if (head) this.#checkpoints.set(streamId, new Map([[treeSize, kept(checkpoint)]]));
  }

  /** Forgets every head and checkpoint (announcements may have been missed). */
  clear(): void {
    this.#heads.clear();
    this.#checkpoints.clear();
  }

  /** A signed checkpoint of the stream (0: the latest known), or undefined. */
  async checkpoint(db: Db, streamId: string, head: Head, size: number): Promise<CheckpointRecord | undefined> {
    const want = size || head.checkpointSize;
    if (want === 0) return undefined;
    let bySize = this.#checkpoints.get(streamId);
    let checkpoint = bySize?.get(want);
    if (!checkpoint) {
      checkpoint = await checkpointOf(db, { id: streamId, checkpointSize: head.checkpointSize }, want);
      if (checkpoint) {
        bySize = this.#checkpoints.get(streamId);
        if (!bySize) this.#checkpoints.set(streamId, (bySize = new Map()));
        // Older sizes are asked for rarely: keep the map small by starting over.
        if (bySize.size >= 64) bySize.clear();
        bySize.set(want, (checkpoint = kept(checkpoint)));
      }
    }
    return checkpoint;
  }
}

/**
 * The record as the cache keeps it. Its root hash (and timestamp token) as
 * read or decoded are slices of Node's shared buffer pool, 64 KiB blocks on
 * Node 24: one kept 32-byte root per stream could pin a block per stream.
 */
function kept(checkpoint: CheckpointRecord): CheckpointRecord {
  return { ...checkpoint, rootHash: ownBytes(checkpoint.rootHash), timestampToken: checkpoint.timestampToken && ownBytes(checkpoint.timestampToken) };
}

async function readHead(db: Db, streamId: string): Promise<Head | undefined> {
  const [row] = await db.select({ tenantId: streams.tenantId, checkpointSize: streams.checkpointSize, treeSize: streams.treeSize }).from(streams).where(eq(streams.id, streamId)).limit(1);
  return row;
}
