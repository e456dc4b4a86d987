import { nodeHash } from "../../crypto/rfc9162.js";
import { HASH_SIZE } from "../../verify/merkle.js";
import { foldRange, inclusionRanges, rangeNodes, type NodeRef } from "./ranges.js";
import type { RightEdge } from "./right-edge.js";

/**
 * Inclusion proofs for the leaves of one commit batch, from what the commit
 * holds in memory: the right edge of the tree before the batch and the
 * batch's leaf hashes. Every hash such a path needs is either a subtree of
 * the batch, one that spans the edge's last nodes and the batch, or a left
 * sibling lying wholly before the batch, and such a sibling is always one of
 * the edge's nodes (a larger aligned subtree holding it would hold the
 * proven leaf too). So a receipt made at write time needs no read.
 */
export class BatchProofs {
  readonly #edgeNodes = new Map<string, Buffer>();
  readonly #memo = new Map<string, Buffer>();
  readonly #start: number;

  constructor(
    before: RightEdge,
    private readonly leaves: readonly Buffer[],
  ) {
    this.#start = before.size;
    // The edge's nodes, largest (leftmost) first: one per set bit of the size.
    let at = 0;
    let offset = 0;
    for (let level = Math.floor(Math.log2(Math.max(1, before.size))) + 1; level >= 0; level--) {
      const span = 2 ** level;
      if (Math.floor(before.size / span) % 2 === 0) continue;
      this.#edgeNodes.set(`${level}/${at / span}`, before.hashes.subarray(offset, offset + HASH_SIZE));
      offset += HASH_SIZE;
      at += span;
    }
  }

  /** The size of the tree after the batch. */
  get size(): number {
    return this.#start + this.leaves.length;
  }

  /** RFC 9162 PATH(index, D[size]) for a leaf of the batch, in the tree after it. */
  inclusion(leafIndex: number): Buffer[] {
    if (leafIndex < this.#start || leafIndex >= this.size) throw new RangeError(`leaf ${leafIndex} is not in the batch [${this.#start}, ${this.size})`);
    return inclusionRanges(leafIndex, this.size).map((range) => foldRange(rangeNodes(range).map((n) => this.#node(n))));
  }

  #node({ level, index }: NodeRef): Buffer {
    const start = index * 2 ** level;
    const end = start + 2 ** level;
    if (level === 0 && start >= this.#start) return this.leaves[start - this.#start]!;
    const key = `${level}/${index}`;
    if (end <= this.#start) {
      const edge = this.#edgeNodes.get(key);
      if (!edge) throw new Error(`node ${key} lies before the batch and is not on its edge`);
      return edge;
    }
    let hash = this.#memo.get(key);
    if (!hash) this.#memo.set(key, (hash = nodeHash(this.#node({ level: level - 1, index: 2 * index }), this.#node({ level: level - 1, index: 2 * index + 1 }))));
    return hash;
  }
}
