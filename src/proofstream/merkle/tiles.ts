import { nodeHash } from "../../crypto/rfc9162.js";
import { HASH_SIZE } from "../../verify/merkle.js";
import type { NodeRef } from "./ranges.js";

/**
 * C2SP tlog-tiles arithmetic (tile height 8). Tile (level L, index N) holds
 * hashes N*256 .. N*256+255 of Merkle level 8L; a node of Merkle level
 * 8L + r lies inside one tile of level L and is hashed from 2^r of its hashes.
 */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** The bytes of a complete tile. */
export const TILE_BYTES = TILE_WIDTH * HASH_SIZE;

export interface TileRef {
  level: number;
  index: number;
}

/** Hashes stored at tile level L for a tree of `size` leaves. */
export const hashesAtLevel = (size: number, level: number) => Math.floor(size / TILE_WIDTH ** level);

/** Where a node lives: its tile, the first hash it covers there, and how many. */
export function locateNode({ level, index }: NodeRef): { tile: TileRef; offset: number; span: number } {
  const tileLevel = Math.floor(level / TILE_HEIGHT);
  const span = 2 ** (level % TILE_HEIGHT);
  const first = index * span;
  return { tile: { level: tileLevel, index: Math.floor(first / TILE_WIDTH) }, offset: first % TILE_WIDTH, span };
}

/**
 * A tile with every complete subtree inside it hashed: row k holds the
 * hashes of 2^k consecutive tile hashes, as one contiguous buffer.
 */
export class ExpandedTile {
  readonly rows: Buffer[];
  constructor(hashes: Buffer) {
    if (hashes.length % HASH_SIZE !== 0 || hashes.length === 0 || hashes.length > TILE_BYTES) {
      throw new Error(`bad tile of ${hashes.length} bytes`);
    }
    const widths: number[] = [];
    for (let n = hashes.length / HASH_SIZE; n > 0 && widths.length <= TILE_HEIGHT; n = Math.floor(n / 2)) widths.push(n);
    // Every row in one allocation of its own. A tile read from the database is a slice of Node's
    // shared buffer pool (64 KiB blocks on Node 24), as are small allocUnsafe buffers: cached, each
    // tile pinned a whole block, and the cache held several times the bytes its budget counted.
    const memory = Buffer.allocUnsafeSlow(widths.reduce((a, n) => a + n, 0) * HASH_SIZE);
    hashes.copy(memory, 0);
    this.rows = [memory.subarray(0, hashes.length)];
    let offset = hashes.length;
    for (let k = 1; k < widths.length; k++) {
      const below = this.rows[k - 1]!;
      const row = memory.subarray(offset, offset + widths[k]! * HASH_SIZE);
      offset += row.length;
      for (let j = 0; j < widths[k]!; j++) {
        nodeHash(below.subarray(2 * j * HASH_SIZE, (2 * j + 1) * HASH_SIZE), below.subarray((2 * j + 1) * HASH_SIZE, (2 * j + 2) * HASH_SIZE)).copy(row, j * HASH_SIZE);
      }
      this.rows.push(row);
    }
  }

  get width(): number {
    return this.rows[0]!.length / HASH_SIZE;
  }

  get bytes(): number {
    return this.rows.reduce((n, r) => n + r.length, 0);
  }

  /** The hash of `span` (a power of two) tile hashes from `offset`. */
  subtree(offset: number, span: number): Buffer {
    const k = Math.log2(span);
    const row = this.rows[k];
    const j = offset / span;
    if (!row || !Number.isInteger(j) || (j + 1) * HASH_SIZE > row.length) throw new Error(`no complete subtree at ${offset}+${span} in a tile of width ${this.width}`);
    return row.subarray(j * HASH_SIZE, (j + 1) * HASH_SIZE);
  }

  /** The root of a full tile: the hash that goes up into the next tile level. */
  root(): Buffer {
    if (this.width !== TILE_WIDTH) throw new Error("only a full tile has a root");
    return this.rows[TILE_HEIGHT]!;
  }
}

export interface TileWrite {
  level: number;
  index: number;
  /** The tile's hashes after the write. */
  hashes: Buffer;
  /** How many of its leading bytes the tile already holds (the rest is new): storage sends only the rest. */
  kept: number;
}

/**
 * Appends leaf hashes to a tree of `size` leaves. `partial(L)` gives the
 * current hashes of level L's rightmost, incomplete tile (empty when the
 * level ends on a tile boundary). Returns the tiles to write; each tile that
 * fills up contributes its root to the level above.
 */
export function appendToTiles(size: number, leafHashes: readonly Buffer[], partial: (level: number) => Buffer): TileWrite[] {
  const writes: TileWrite[] = [];
  let carry = Buffer.concat(leafHashes);
  for (let level = 0; carry.length > 0; level++) {
    const before = hashesAtLevel(size, level);
    const existing = partial(level);
    if (existing.length !== (before % TILE_WIDTH) * HASH_SIZE) {
      throw new Error(`tile level ${level} of a tree of size ${size} should hold ${before % TILE_WIDTH} hashes, found ${existing.length / HASH_SIZE}`);
    }
    const row = Buffer.concat([existing, carry]);
    const firstTile = Math.floor(before / TILE_WIDTH);
    const roots: Buffer[] = [];
    for (let at = 0, index = firstTile; at < row.length; at += TILE_BYTES, index++) {
      const hashes = row.subarray(at, Math.min(at + TILE_BYTES, row.length));
      writes.push({ level, index, hashes: Buffer.from(hashes), kept: at === 0 ? existing.length : 0 });
      if (hashes.length === TILE_BYTES) roots.push(new ExpandedTile(hashes).root());
    }
    carry = Buffer.concat(roots);
  }
  return writes;
}

/** The tiles that are incomplete (the rightmost of each level) for a tree of `size`. */
export function partialTiles(size: number): Array<TileRef & { width: number }> {
  const out: Array<TileRef & { width: number }> = [];
  for (let level = 0; hashesAtLevel(size, level) > 0; level++) {
    const count = hashesAtLevel(size, level);
    if (count % TILE_WIDTH !== 0) out.push({ level, index: Math.floor(count / TILE_WIDTH), width: count % TILE_WIDTH });
  }
  return out;
}

/** C2SP tile index path: "x001/x234/067" for 1234067. */
export function encodeTileIndex(n: number): string {
  const digits = String(n).padStart(3, "0");
  const pad = digits.length % 3 === 0 ? digits : digits.padStart(digits.length + 3 - (digits.length % 3), "0");
  const groups = pad.match(/.{3}/g)!;
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join("/");
}

/** Inverse of encodeTileIndex; undefined for anything malformed. */
export function decodeTileIndex(path: string): number | undefined {
  const parts = path.split("/");
  if (parts.length === 0 || parts.length > 6) return undefined;
  let n = "";
  for (let i = 0; i < parts.length; i++) {
    const want = i < parts.length - 1 ? /^x[0-9]{3}$/ : /^[0-9]{3}$/;
    if (!want.test(parts[i]!)) return undefined;
    n += parts[i]!.replace("x", "");
  }
  const value = Number(n);
  return Number.isSafeInteger(value) && encodeTileIndex(value) === path ? value : undefined;
}
