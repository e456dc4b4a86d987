import { nodeHash } from "../../crypto/rfc9162.js";
import { HASH_SIZE, splitPoint } from "../../verify/merkle.js";
import type { RightEdge } from "./right-edge.js";

/** Levels an edge can have: a safe-integer tree size has at most 53 bits. */
const MAX_LEVELS = 53;

/**
 * Inclusion proofs for the leaves of one commit batch, from what the commit
 * holds in memory: the right edge of the tree before the batch and the
 * batch's leaf hashes. Every hash such a path needs is either a subtree of
 * the batch, one that spans the edge's last nodes and the batch, or a left
 * sibling lying wholly before the batch, and such a sibling is always one of
 * the edge's nodes (a larger aligned subtree holding it would hold the
 * proven leaf too). So a receipt made at write time needs no read.
 *
 * It runs once per commit that signs for waiting appends, so it walks RFC
 * 9162's recursion directly (no range or node objects): a left sibling is
 * the edge's node at its level (a view of the edge, no copy), and the hashes
 * that reach into the batch are computed once per batch and shared by its
 * leaves' paths.
 */
export class BatchProofs {
  /** The edge's complete subtrees by level (one per set bit of the size before the batch). */
  readonly #edge: Array<Buffer | undefined> = [];
  /** Hashes computed for ranges reaching into the batch, by "start end". */
  readonly #memo = new Map<string, Buffer>();
  readonly #start: number;

  constructor(
    before: RightEdge,
    private readonly leaves: readonly Buffer[],
  ) {
    this.#start = before.size;
    let offset = 0;
    for (let level = MAX_LEVELS - 1; level >= 0; level--) {
      if (Math.floor(before.size / 2 ** level) % 2 === 0) continue;
      this.#edge[level] = before.hashes.subarray(offset, offset + HASH_SIZE);
      offset += HASH_SIZE;
    }
  }

  /** The size of the tree after the batch. */
  get size(): number {
    return this.#start + this.leaves.length;
  }

  /** RFC 9162 PATH(index, D[size]) for a leaf of the batch, in the tree after it. */
  inclusion(leafIndex: number): Buffer[] {
    if (leafIndex < this.#start || leafIndex >= this.size) throw new RangeError(`leaf ${leafIndex} is not in the batch [${this.#start}, ${this.size})`);
    // Top down, siblings collected root first; PATH lists them leaf first.
    const path: Buffer[] = [];
    let lo = 0;
    let hi = this.size;
    while (hi - lo > 1) {
      const k = splitPoint(hi - lo);
      if (leafIndex < lo + k) {
        path.push(this.#hash(lo + k, hi));
        hi = lo + k;
      } else {
        path.push(this.#hash(lo, lo + k));
        lo += k;
      }
    }
    return path.reverse();
  }

  /** MTH of the leaves [start, end) of the tree after the batch. */
  #hash(start: number, end: number): Buffer {
    if (end <= this.#start) return this.#edgeNode(start, end);
    if (end - start === 1) return this.leaves[start - this.#start]!;
    const key = `${start} ${end}`;
    let hash = this.#memo.get(key);
    if (!hash) {
      const k = splitPoint(end - start);
      this.#memo.set(key, (hash = nodeHash(this.#hash(start, start + k), this.#hash(start + k, end))));
    }
    return hash;
  }

  /** A range wholly before the batch, which a path only ever asks for as one of the edge's nodes. */
  #edgeNode(start: number, end: number): Buffer {
    const span = end - start;
    const level = Math.log2(span);
    // The edge's node at a level starts where the larger ones end: the size before the batch rounded down to twice the span.
    const node = Number.isInteger(level) && start === Math.floor(this.#start / (2 * span)) * 2 * span ? this.#edge[level] : undefined;
    if (!node) throw new Error(`range [${start}, ${end}) lies before the batch and is not on its edge`);
    return node;
  }
}
