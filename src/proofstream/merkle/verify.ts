import { HASH_SIZE, nodeHash } from "./hash.js";

/**
 * RFC 9162 proof verification (sections 2.1.3.2 and 2.1.4.2), independent of
 * how proofs are produced. The bundle verifier and tests use it.
 */

const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;

/** The root an inclusion proof leads to, or an error saying why it cannot. */
export function rootFromInclusionProof(leafIndex: number, treeSize: number, leafHash: Uint8Array, proof: readonly Uint8Array[]): Buffer {
  if (leafIndex < 0 || leafIndex >= treeSize) throw new Error(`leaf index ${leafIndex} is outside a tree of size ${treeSize}`);
  if (proof.some((h) => h.length !== HASH_SIZE)) throw new Error("proof hashes must be 32 bytes");
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    if (sn === 0) throw new Error("proof is too long");
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("proof is too short");
  return r;
}

export function verifyInclusion(leafIndex: number, treeSize: number, leafHash: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  try {
    return eq(rootFromInclusionProof(leafIndex, treeSize, leafHash, proof), root);
  } catch {
    return false;
  }
}

/** RFC 9162 2.1.4.2: whether `proof` shows the tree of size1/root1 is a prefix of size2/root2. */
export function verifyConsistency(size1: number, size2: number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): boolean {
  if (size1 < 1 || size1 > size2) return false;
  if (proof.some((h) => h.length !== HASH_SIZE)) return false;
  if (size1 === size2) return proof.length === 0 && eq(root1, root2);
  let path = [...proof];
  // When size1 is a power of two, root1 is the first node of the path.
  if ((size1 & (size1 - 1)) === 0) path = [root1, ...path];
  if (path.length === 0) return false;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && eq(fr, root1) && eq(sr, root2);
}
