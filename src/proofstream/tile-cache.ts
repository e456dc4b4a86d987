import { sql } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Db } from "../db/db.js";
import { AppError } from "../errors.js";
import { EMPTY_ROOT } from "../crypto/rfc9162.js";
import { HASH_SIZE } from "../verify/merkle.js";
import { foldRange, planProof, rangeNodes, type NodeRef, type Range } from "./merkle/ranges.js";
import { ExpandedTile, locateNode, type TileRef } from "./merkle/tiles.js";
import { levelZeroHashes, readableTile } from "./level-zero-sql.js";

/**
 * A tile as one number, unique within a stream: level (at most 6 for 2^53
 * leaves) above a 44-bit index (at most 2^52 leaves at level 0). Safe
 * integers, so requests dedupe tiles without building a string per node.
 */
export const tileKey = (level: number, index: number) => level * 2 ** 44 + index;

/** The partial-subtree hashes of trees' right edges kept, by stream and size. */
const MAX_EDGES = 10_000;

/**
 * Reads Merkle node hashes from stored tiles. Tiles only ever grow, so a
 * cached tile is valid for every tree size its width covers: the cache needs
 * no invalidation, only a refetch when a wider tile is needed. The same
 * holds for the hash of a range ending at a tree's right edge: a tree of a
 * given size never changes, so it is folded once per stream and size.
 */
export class TileCache {
  /** One map of tiles per stream (numeric keys), all sharing one byte budget through `#lru`. */
  readonly #streams = new Map<string, Map<number, ExpandedTile>>();
  readonly #lru: LRUCache<ExpandedTile, { streamId: string; key: number }>;
  readonly #edges = new LRUCache<string, Map<number, Buffer>>({ max: MAX_EDGES });

  constructor(cacheBytes: number) {
    this.#lru = new LRUCache({
      maxSize: cacheBytes,
      sizeCalculation: (_, tile) => tile.bytes,
      dispose: ({ streamId, key }, tile) => {
        const tiles = this.#streams.get(streamId);
        // A wider copy of the tile may have replaced this one: drop only this one.
        if (tiles?.get(key) !== tile) return;
        tiles.delete(key);
        if (tiles.size === 0) this.#streams.delete(streamId);
      },
    });
  }

  /** Hashes of the given complete subtrees, as a lookup. One query at most. */
  async readNodes(db: Db, streamId: string, nodes: readonly NodeRef[]): Promise<(node: NodeRef) => Buffer> {
    const need = new Map<number, TileRef & { width: number }>();
    for (const node of nodes) {
      const { tile, offset, span } = locateNode(node);
      const k = tileKey(tile.level, tile.index);
      const seen = need.get(k);
      if (!seen) need.set(k, { level: tile.level, index: tile.index, width: offset + span });
      else if (seen.width < offset + span) seen.width = offset + span;
    }
    const found = await this.#tiles(db, streamId, need);
    return (node) => {
      const { tile, offset, span } = locateNode(node);
      const expanded = found.get(tileKey(tile.level, tile.index));
      if (!expanded || expanded.width < offset + span) throw new AppError("internal", `tile ${tile.level}/${tile.index} of ${streamId} is missing hashes`);
      return expanded.subtree(offset, span);
    };
  }

  /**
   * The hashes of a proof's ranges in the tree of `size` leaves, and of
   * `extra` nodes (e.g. the leaf itself), in one read at most; right-edge
   * folds come from the cache after the first proof at that size.
   */
  async proof(db: Db, streamId: string, size: number, ranges: readonly Range[], extra: readonly NodeRef[] = []): Promise<{ hashes: Buffer[]; extra: Buffer[] }> {
    const edgeKey = `${streamId}/${size}`;
    let edge = this.#edges.get(edgeKey);
    if (!edge) this.#edges.set(edgeKey, (edge = new Map()));
    const plan = planProof(ranges, size, edge);
    const lookup = await this.readNodes(db, streamId, extra.length ? [...extra, ...plan.nodes] : plan.nodes);
    return { hashes: plan.hashes(lookup), extra: extra.map(lookup) };
  }

  /** The RFC 9162 root of the first `size` leaves. */
  async root(db: Db, streamId: string, size: number): Promise<Buffer> {
    if (size === 0) return EMPTY_ROOT;
    const nodes = rangeNodes([0, size]);
    const lookup = await this.readNodes(db, streamId, nodes);
    return foldRange(nodes.map(lookup));
  }

  /** The first `width` hashes of a tile, for the tlog-tiles read path; undefined when not stored yet. */
  async tile(db: Db, streamId: string, tile: TileRef, width: number): Promise<Buffer | undefined> {
    const k = tileKey(tile.level, tile.index);
    const expanded = (await this.#tiles(db, streamId, new Map([[k, { ...tile, width }]]))).get(k);
    return expanded && expanded.width >= width ? expanded.rows[0]!.subarray(0, width * HASH_SIZE) : undefined;
  }

  /** The wanted tiles, from the cache when wide enough, else in one query. */
  async #tiles(db: Db, streamId: string, wanted: ReadonlyMap<number, TileRef & { width: number }>): Promise<Map<number, ExpandedTile>> {
    const found = new Map<number, ExpandedTile>();
    const missing: Array<TileRef & { width: number }> = [];
    const cached = this.#streams.get(streamId);
    for (const [k, t] of wanted) {
      const tile = cached?.get(k);
      if (tile && tile.width >= t.width) {
        this.#lru.get(tile); // recency
        found.set(k, tile);
      } else missing.push(t);
    }
    if (missing.length === 0) return found;
    // One statement text whatever the number of tiles, so it stays prepared. Level 0 stores
    // complete tiles only: its incomplete one is the leaf hashes of its events (tilesUpsert).
    const rows = await db.execute<{ level: number; idx: string; hashes: Buffer | null }>(sql`
      WITH w AS (
        SELECT * FROM jsonb_to_recordset(${JSON.stringify(missing.map((m) => ({ level: m.level, idx: m.index, width: m.width })))}::jsonb) AS w(level smallint, idx bigint, width int)
      )
      SELECT t.level, t.idx, t.hashes FROM tiles t JOIN w ON t.level = w.level AND t.idx = w.idx
      WHERE t.stream_id = ${streamId} AND ${readableTile}
      UNION ALL
      SELECT 0, w.idx, ${levelZeroHashes(sql`${streamId}`, sql`w.idx`, sql`w.width`)} FROM w
      WHERE w.level = 0 AND NOT EXISTS (
        SELECT 1 FROM tiles t WHERE t.stream_id = ${streamId} AND t.level = 0 AND t.idx = w.idx AND ${readableTile}
      )`);
    let tiles = this.#streams.get(streamId);
    if (!tiles) this.#streams.set(streamId, (tiles = new Map<number, ExpandedTile>()));
    for (const row of rows) {
      if (!row.hashes) continue; // no events there (yet): missing, as a tile not stored
      const expanded = new ExpandedTile(row.hashes);
      const k = tileKey(row.level, Number(row.idx));
      const previous = tiles.get(k);
      tiles.set(k, expanded);
      if (previous) this.#lru.delete(previous);
      this.#lru.set(expanded, { streamId, key: k });
      // A tile larger than the whole budget is not kept: used for this answer only.
      if (!this.#lru.has(expanded)) tiles.delete(k);
      found.set(k, expanded);
    }
    if (tiles.size === 0) this.#streams.delete(streamId);
    return found;
  }
}
