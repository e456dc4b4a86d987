import { sql } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Db } from "../db/db.js";
import { AppError } from "../errors.js";
import { TILE_WIDTH } from "./merkle/tiles.js";

/**
 * The leaves of one stream's events N*256+1 .. N*256+count (seq_no), as one
 * buffer and the offset of each leaf in it: C2SP's entry bundle, kept the
 * way a tile is. A leaf never changes once committed, so a bundle is valid
 * for as long as it is kept; only a longer copy replaces it.
 */
interface Bundle {
  leaves: Buffer;
  /** count + 1 offsets into `leaves`. */
  offsets: Uint32Array;
}

const bundleBytes = (b: Bundle) => b.leaves.length + b.offsets.byteLength + 64;

/**
 * The leaf bytes GetInclusionProof answers with (and the tlog-proof's
 * `extra`), from memory: an LRU of entry bundles bounded by bytes. A miss
 * reads the leaf's whole bundle (up to 256 leaves, one range scan of the
 * primary key), so a stream's leaves are all in memory after one read per
 * 256 of them, and a proof for a cached stream reads nothing.
 */
export class LeafCache {
  readonly #lru: LRUCache<string, Bundle>;
  /** Reads in flight, so concurrent misses of one bundle share one statement. */
  readonly #reading = new Map<string, Promise<Bundle>>();

  constructor(maxBytes: number) {
    this.#lru = new LRUCache({ maxSize: Math.max(1, maxBytes), sizeCalculation: bundleBytes });
  }

  /** The leaf of event `seqNo` of a stream whose events up to `treeSize` are committed (seqNo ≤ treeSize). */
  async leaf(db: Db, streamId: string, seqNo: number, treeSize: number): Promise<Buffer> {
    const index = Math.floor((seqNo - 1) / TILE_WIDTH);
    const at = seqNo - 1 - index * TILE_WIDTH;
    const key = `${streamId}/${index}`;
    let bundle = this.#lru.get(key);
    if (!bundle || bundle.offsets.length - 1 <= at) {
      // The bundle as far as the tree goes: full for every bundle but the tree's last.
      const count = Math.min(TILE_WIDTH, treeSize - index * TILE_WIDTH);
      bundle = await this.#read(db, streamId, key, index, count);
      if (bundle.offsets.length - 1 <= at) throw new AppError("internal", `event ${seqNo} of ${streamId} has a proof but no leaf`);
    }
    return bundle.leaves.subarray(bundle.offsets[at]!, bundle.offsets[at + 1]!);
  }

  #read(db: Db, streamId: string, key: string, index: number, count: number): Promise<Bundle> {
    const running = this.#reading.get(key);
    if (running) return running.then((b) => (b.offsets.length - 1 >= count ? b : this.#read(db, streamId, key, index, count)));
    const read = readBundle(db, streamId, index * TILE_WIDTH + 1, count).then((bundle) => {
      const kept = this.#lru.get(key);
      if (!kept || kept.offsets.length < bundle.offsets.length) this.#lru.set(key, bundle);
      return bundle;
    });
    this.#reading.set(key, read);
    const done = () => this.#reading.delete(key);
    read.then(done, done);
    return read;
  }
}

/** Leaves `first` .. `first + count - 1` of a stream, in order, as one bundle (fewer when not all are stored). */
async function readBundle(db: Db, streamId: string, first: number, count: number): Promise<Bundle> {
  const rows = await db.execute<{ leaf: Buffer }>(sql`SELECT leaf FROM events WHERE stream_id = ${streamId} AND seq_no BETWEEN ${first} AND ${first + count - 1} ORDER BY seq_no`);
  // Events are gapless: the rows are leaves first, first + 1, … in order.
  const offsets = new Uint32Array(rows.length + 1);
  let bytes = 0;
  rows.forEach((row, i) => {
    bytes += row.leaf.length;
    offsets[i + 1] = bytes;
  });
  // One allocation of its own (not a slice of Node's shared pool), like the warm set's edges.
  const leaves = Buffer.allocUnsafeSlow(bytes);
  rows.forEach((row, i) => row.leaf.copy(leaves, offsets[i]!));
  return { leaves, offsets };
}
