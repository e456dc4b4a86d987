import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { serverRfc9162 } from "../../crypto/rfc9162.js";
import { BatchProofs } from "./batch-proof.js";
import { appendToEdge, edgeRoot, type RightEdge } from "./right-edge.js";

const leaf = (i: number) => createHash("sha256").update(`leaf ${i}`).digest();
const empty: RightEdge = { size: 0, hashes: Buffer.alloc(0) };

/** PATH(m, D[n]) straight from RFC 9162 2.1.3.1 over all the leaves: the reference. */
function referencePath(m: number, leaves: readonly Buffer[]): Buffer[] {
  if (leaves.length <= 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  const mth = (ls: readonly Buffer[]) => Buffer.from(serverRfc9162.rootOfLeafHashes(ls));
  return m < k ? [...referencePath(m, leaves.slice(0, k)), mth(leaves.slice(k))] : [...referencePath(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}

describe("BatchProofs", () => {
  it("gives every batch leaf the RFC 9162 path of the tree after the batch, from the edge before it and the batch alone", () => {
    for (const before of [0, 1, 2, 3, 5, 6, 7, 8, 13, 64, 255, 256, 300, 1023]) {
      for (const count of [1, 2, 3, 7, 8, 9, 33]) {
        const all = Array.from({ length: before + count }, (_, i) => leaf(i));
        const { edge } = appendToEdge(empty, all.slice(0, before));
        const { edge: after } = appendToEdge(edge, all.slice(before));
        const proofs = new BatchProofs(edge, all.slice(before));
        expect(proofs.size).toBe(before + count);
        for (let i = before; i < before + count; i++) {
          const path = proofs.inclusion(i);
          expect(path).toEqual(referencePath(i, all));
          expect(serverRfc9162.verifyInclusion(i, before + count, all[i]!, path, edgeRoot(after)!)).toBe(true);
        }
      }
    }
  });

  it("proves batches on trees whose edges reach high levels (each path verifies against the root after the batch)", () => {
    // The reference above costs O(n log n) hashes; here the root is the check: a path that verifies is the path.
    const leaves = Array.from({ length: 131_080 }, (_, i) => {
      const hash = Buffer.alloc(32);
      hash.writeUInt32BE(i);
      return hash;
    });
    let edge = empty;
    for (const before of [65_536, 70_001, 131_071]) {
      edge = appendToEdge(edge, leaves.slice(edge.size, before)).edge;
      for (const count of [1, 5]) {
        const batch = leaves.slice(before, before + count);
        const root = edgeRoot(appendToEdge(edge, batch).edge)!;
        const proofs = new BatchProofs(edge, batch);
        for (let i = before; i < before + count; i++) expect(serverRfc9162.verifyInclusion(i, before + count, leaves[i]!, proofs.inclusion(i), root)).toBe(true);
      }
    }
  });

  it("refuses a leaf outside the batch", () => {
    const all = Array.from({ length: 10 }, (_, i) => leaf(i));
    const { edge } = appendToEdge(empty, all.slice(0, 6));
    const proofs = new BatchProofs(edge, all.slice(6));
    expect(() => proofs.inclusion(5)).toThrow(RangeError);
    expect(() => proofs.inclusion(10)).toThrow(RangeError);
  });
});
