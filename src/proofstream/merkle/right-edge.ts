import { nodeHash } from "../../crypto/rfc9162.js";
import { HASH_SIZE } from "../../verify/merkle.js";
import { hashesAtLevel, TILE_HEIGHT, TILE_WIDTH } from "./tiles.js";

/**
 * The right edge of a tree of `size` leaves: the hashes of its maximal
 * complete subtrees, largest (leftmost) first, one per set bit of `size`,
 * as one buffer of 32-byte hashes. It is all an append needs to hash new
 * leaves into the tree and to know which hashes the tiles gain: at most 53
 * hashes (1.7 KiB) for any tree, where the incomplete tiles it replaces are
 * up to 8 KiB per tile level.
 */
export interface RightEdge {
  size: number;
  hashes: Buffer;
}

/** New hashes for one tile: `kept` bytes the tile already holds, then `added`. */
export interface TileAppend {
  level: number;
  index: number;
  kept: number;
  added: Buffer;
}

/**
 * An edge's own memory, not a slice of Node's shared 8 KiB pool: edges live
 * long in a cache that evicts them one by one, and one live slice would keep
 * a whole pool block.
 */
const edgeBuffer = (hashes: number) => Buffer.allocUnsafeSlow(hashes * HASH_SIZE);

/** Bits set in n (a safe integer, so not with 32-bit operators). */
function popcount(n: number): number {
  let bits = 0;
  for (; n > 0; n = Math.floor(n / 2)) bits += n % 2;
  return bits;
}

/**
 * The right edge from the incomplete tile of each level, as stored:
 * `partial(L)` holds the first `hashesAtLevel(size, L) % 256` hashes of
 * level L's rightmost tile (the complete subtrees below level 8L+8 of the
 * edge lie inside it).
 */
export function edgeFromTiles(size: number, partial: (level: number) => Buffer | undefined): RightEdge {
  const hashes = edgeBuffer(popcount(size));
  let at = 0;
  let levels = 0;
  while (hashesAtLevel(size, levels) >= TILE_WIDTH) levels++;
  for (let level = levels; level >= 0; level--) {
    const width = hashesAtLevel(size, level) % TILE_WIDTH;
    if (width === 0) continue;
    const tile = partial(level);
    if (!tile || tile.length < width * HASH_SIZE) throw new Error(`tile level ${level} of a tree of size ${size} should hold ${width} hashes, found ${(tile?.length ?? 0) / HASH_SIZE}`);
    // The tile's first `width` hashes split into complete subtrees, largest first.
    let start = 0;
    for (let bit = TILE_HEIGHT - 1; bit >= 0; bit--) {
      const span = 2 ** bit;
      if ((width & span) === 0) continue;
      subtreeRoot(tile, start, span).copy(hashes, at);
      at += HASH_SIZE;
      start += span;
    }
  }
  return { size, hashes };
}

/** The root of `span` (a power of two) consecutive hashes of `row` from `start`. */
function subtreeRoot(row: Buffer, start: number, span: number): Buffer {
  if (span === 1) return row.subarray(start * HASH_SIZE, (start + 1) * HASH_SIZE);
  const half = span / 2;
  return nodeHash(subtreeRoot(row, start, half), subtreeRoot(row, start + half, half));
}

/**
 * Appends leaf hashes: the new edge, and the hashes every tile level gains
 * (a leaf at level 0; at level L, each subtree of height 8L that completes),
 * split at tile boundaries. The edge's subtrees merge like the digits of a
 * binary counter, so each leaf costs one hash amortized.
 */
export function appendToEdge(edge: RightEdge, leafHashes: readonly Buffer[]): { edge: RightEdge; writes: TileAppend[] } {
  const stack: Array<{ height: number; hash: Buffer }> = [];
  let bit = 2 ** 52;
  for (let at = 0, rest = edge.size; at < edge.hashes.length; at += HASH_SIZE) {
    while (bit > rest) bit /= 2;
    stack.push({ height: Math.log2(bit), hash: edge.hashes.subarray(at, at + HASH_SIZE) });
    rest -= bit;
  }
  // Each tile level's new hashes, in order.
  const gained: Buffer[][] = [];
  const gain = (level: number, hash: Buffer) => (gained[level] ??= []).push(hash);
  for (const leaf of leafHashes) {
    let top = { height: 0, hash: leaf };
    gain(0, leaf);
    while (stack.length > 0 && stack[stack.length - 1]!.height === top.height) {
      const left = stack.pop()!;
      top = { height: top.height + 1, hash: nodeHash(left.hash, top.hash) };
      if (top.height % TILE_HEIGHT === 0) gain(top.height / TILE_HEIGHT, top.hash);
    }
    stack.push(top);
  }
  const writes: TileAppend[] = [];
  gained.forEach((hashes, level) => {
    let position = hashesAtLevel(edge.size, level);
    for (let i = 0; i < hashes.length;) {
      const index = Math.floor(position / TILE_WIDTH);
      const offset = position % TILE_WIDTH;
      const take = Math.min(TILE_WIDTH - offset, hashes.length - i);
      writes.push({ level, index, kept: offset * HASH_SIZE, added: Buffer.concat(hashes.slice(i, i + take)) });
      i += take;
      position += take;
    }
  });
  const hashes = edgeBuffer(stack.length);
  stack.forEach((s, i) => s.hash.copy(hashes, i * HASH_SIZE));
  return { edge: { size: edge.size + leafHashes.length, hashes }, writes };
}

/** The RFC 9162 root of the tree the edge ends (folded right to left); undefined for the empty tree. */
export function edgeRoot(edge: RightEdge): Buffer | undefined {
  if (edge.size === 0) return undefined;
  let root = edge.hashes.subarray(edge.hashes.length - HASH_SIZE);
  for (let at = edge.hashes.length - 2 * HASH_SIZE; at >= 0; at -= HASH_SIZE) root = nodeHash(edge.hashes.subarray(at, at + HASH_SIZE), root);
  return root;
}
