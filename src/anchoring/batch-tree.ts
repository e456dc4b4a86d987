import { leafHash, nodeHash } from "../crypto/rfc9162.js";

/** A batch's Merkle tree: the root and every leaf's audit path, leaf level first. */
export interface BatchTree {
  root: Buffer;
  /** paths[i] is leaf i's RFC 9162 inclusion proof in a tree of leaves.length. */
  paths: Buffer[][];
}

/**
 * Builds the RFC 9162 tree over the leaves (signed checkpoint notes) and
 * every audit path at once, in O(n log n): level by level, pairing nodes
 * left to right and carrying an odd last node up unchanged, which is the
 * shape of RFC 9162's split at the largest power of two below n.
 */
export function buildBatchTree(leaves: readonly Uint8Array[]): BatchTree {
  if (leaves.length === 0) throw new RangeError("a batch needs at least one leaf");
  let level: Buffer[] = leaves.map((leaf) => leafHash(leaf));
  const paths: Buffer[][] = leaves.map(() => []);
  // position[i]: index of leaf i's ancestor on the current level.
  const position = leaves.map((_, i) => i);
  while (level.length > 1) {
    for (let i = 0; i < paths.length; i++) {
      const sibling = position[i]! ^ 1;
      if (sibling < level.length) paths[i]!.push(level[sibling]!);
      position[i] = position[i]! >> 1;
    }
    const next: Buffer[] = [];
    for (let j = 0; j + 1 < level.length; j += 2) next.push(nodeHash(level[j]!, level[j + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return { root: level[0]!, paths };
}

/** Hashes concatenated for storage, and back. */
export const joinHashes = (hashes: readonly Uint8Array[]): Buffer => Buffer.concat(hashes);
export function splitHashes(joined: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < joined.length; at += 32) out.push(Buffer.from(joined.subarray(at, at + 32)));
  return out;
}
