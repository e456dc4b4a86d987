import { EMPTY_ROOT, nodeHash } from "../../crypto/rfc9162.js";

/**
 * Root of a tree fed one leaf hash at a time, in O(log n) memory: the
 * complete subtrees so far, like the digits of a binary counter.
 */
export class RootAccumulator {
  readonly #stack: Array<{ level: number; hash: Buffer }> = [];
  size = 0;

  push(leafHash: Buffer): void {
    let entry = { level: 0, hash: leafHash };
    while (this.#stack.length > 0 && this.#stack[this.#stack.length - 1]!.level === entry.level) {
      const left = this.#stack.pop()!;
      entry = { level: entry.level + 1, hash: nodeHash(left.hash, entry.hash) };
    }
    this.#stack.push(entry);
    this.size++;
  }

  root(): Buffer {
    if (this.#stack.length === 0) return EMPTY_ROOT;
    let acc = this.#stack[this.#stack.length - 1]!.hash;
    for (let i = this.#stack.length - 2; i >= 0; i--) acc = nodeHash(this.#stack[i]!.hash, acc);
    return acc;
  }
}
