import { and, eq, or } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Db } from "../db/db.js";
import { tiles } from "./schema.js";
import { AppError } from "../errors.js";
import { EMPTY_ROOT, HASH_SIZE } from "./merkle/hash.js";
import { foldRange, rangeNodes, type NodeRef } from "./merkle/ranges.js";
import { ExpandedTile, locateNode, type TileRef } from "./merkle/tiles.js";

const key = (streamId: string, t: TileRef) => `${streamId}/${t.level}/${t.index}`;

/**
 * Reads Merkle node hashes from stored tiles. Tiles only ever grow, so a
 * cached tile is valid for every tree size its width covers: the cache needs
 * no invalidation, only a refetch when a wider tile is needed.
 */
export class TileStore {
  readonly #cache: LRUCache<string, ExpandedTile>;

  constructor(cacheBytes: number) {
    this.#cache = new LRUCache({ maxSize: cacheBytes, sizeCalculation: (t) => t.bytes });
  }

  /** Hashes of the given complete subtrees, as a lookup. One query at most. */
  async readNodes(db: Db, streamId: string, nodes: readonly NodeRef[]): Promise<(node: NodeRef) => Buffer> {
    const need = new Map<string, TileRef & { width: number }>();
    for (const node of nodes) {
      const { tile, offset, span } = locateNode(node);
      const k = key(streamId, tile);
      need.set(k, { ...tile, width: Math.max(need.get(k)?.width ?? 0, offset + span) });
    }
    const found = await this.#tiles(db, streamId, [...need.values()]);
    return (node) => {
      const { tile, offset, span } = locateNode(node);
      const expanded = found.get(key(streamId, tile));
      if (!expanded || expanded.width < offset + span) throw new AppError("internal", `tile ${tile.level}/${tile.index} of ${streamId} is missing hashes`);
      return expanded.subtree(offset, span);
    };
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
    const expanded = (await this.#tiles(db, streamId, [{ ...tile, width }])).get(key(streamId, tile));
    return expanded && expanded.width >= width ? expanded.rows[0]!.subarray(0, width * HASH_SIZE) : undefined;
  }

  /** The wanted tiles, from the cache when wide enough, else in one query. */
  async #tiles(db: Db, streamId: string, wanted: ReadonlyArray<TileRef & { width: number }>): Promise<Map<string, ExpandedTile>> {
    const found = new Map<string, ExpandedTile>();
    const missing: TileRef[] = [];
    for (const t of wanted) {
      const cached = this.#cache.get(key(streamId, t));
      if (cached && cached.width >= t.width) found.set(key(streamId, t), cached);
      else missing.push(t);
    }
    if (missing.length === 0) return found;
    const rows = await db
      .select({ level: tiles.level, idx: tiles.idx, hashes: tiles.hashes })
      .from(tiles)
      .where(and(eq(tiles.streamId, streamId), or(...missing.map((t) => and(eq(tiles.level, t.level), eq(tiles.idx, t.index))))));
    for (const row of rows) {
      const expanded = new ExpandedTile(row.hashes);
      const k = key(streamId, { level: row.level, index: row.idx });
      this.#cache.set(k, expanded);
      found.set(k, expanded);
    }
    return found;
  }
}
