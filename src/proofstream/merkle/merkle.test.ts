import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EMPTY_ROOT, leafHash } from "../../crypto/rfc9162.js";
import { consistencyRanges, hashRanges, inclusionRanges, type NodeRef } from "./ranges.js";
import { rootFromInclusionProof, verifyConsistency, verifyInclusion } from "../../verify/merkle.js";

/**
 * A naive reference: RFC 9162 section 2.1 written as literally as possible,
 * hashing leaf ranges recursively (memoized so large trees stay affordable).
 */
class ReferenceTree {
  readonly leaves: Buffer[];
  readonly #memo = new Map<string, Buffer>();
  constructor(size: number) {
    this.leaves = Array.from({ length: size }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
  }
  mth(lo: number, hi: number): Buffer {
    const n = hi - lo;
    if (n === 0) return createHash("sha256").digest();
    if (n === 1) return this.leaves[lo]!;
    const key = `${lo}:${hi}`;
    let h = this.#memo.get(key);
    if (!h) {
      let k = 1;
      while (k * 2 < n) k *= 2;
      h = createHash("sha256")
        .update(Buffer.from([1]))
        .update(this.mth(lo, lo + k))
        .update(this.mth(lo + k, hi))
        .digest();
      this.#memo.set(key, h);
    }
    return h;
  }
  path(m: number, lo: number, hi: number): Buffer[] {
    const n = hi - lo;
    if (n === 1) return [];
    let k = 1;
    while (k * 2 < n) k *= 2;
    return m < k ? [...this.path(m, lo, lo + k), this.mth(lo + k, hi)] : [...this.path(m - k, lo + k, hi), this.mth(lo, lo + k)];
  }
  subproof(m: number, lo: number, hi: number, b: boolean): Buffer[] {
    const n = hi - lo;
    if (m === n) return b ? [] : [this.mth(lo, hi)];
    let k = 1;
    while (k * 2 < n) k *= 2;
    return m <= k ? [...this.subproof(m, lo, lo + k, b), this.mth(lo + k, hi)] : [...this.subproof(m - k, lo + k, hi, false), this.mth(lo, lo + k)];
  }
  node = (node: NodeRef) => this.mth(node.index * 2 ** node.level, (node.index + 1) * 2 ** node.level);
}

const big = new ReferenceTree(5001);

/** Proofs compared as one byte string: much cheaper than a deep equality of arrays. */
const same = (a: Buffer[], b: Buffer[]) => a.length === b.length && Buffer.concat(a).equals(Buffer.concat(b));

describe("RFC 9162 proofs against a naive reference tree", () => {
  it("the empty tree hashes to SHA-256 of nothing", () => {
    expect(EMPTY_ROOT.equals(new ReferenceTree(0).mth(0, 0))).toBe(true);
  });

  it("inclusion proofs match the reference and verify, for every index of random sizes 1..5000", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), (size) => {
        const root = big.mth(0, size);
        for (let m = 0; m < size; m++) {
          const proof = hashRanges(inclusionRanges(m, size), big.node);
          expect(same(proof, big.path(m, 0, size))).toBe(true);
          expect(Buffer.from(rootFromInclusionProof(m, size, big.leaves[m]!, proof)).equals(root)).toBe(true);
        }
      }),
      { numRuns: 12 },
    );
  });

  it("consistency proofs match the reference and verify, for every pair of sizes up to 300", () => {
    for (let to = 1; to <= 300; to++) {
      const root2 = big.mth(0, to);
      for (let from = 1; from <= to; from++) {
        const proof = hashRanges(consistencyRanges(from, to), big.node);
        expect(same(proof, big.subproof(from, 0, to, true))).toBe(true);
        expect(verifyConsistency(from, to, proof, big.mth(0, from), root2)).toBe(true);
      }
    }
  });

  it("consistency proofs hold for random pairs of sizes up to 5000", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), (a, b) => {
        const [from, to] = a <= b ? [a, b] : [b, a];
        const proof = hashRanges(consistencyRanges(from, to), big.node);
        expect(same(proof, big.subproof(from, 0, to, true))).toBe(true);
        expect(verifyConsistency(from, to, proof, big.mth(0, from), big.mth(0, to))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects tampered proofs, wrong roots, wrong indices and wrong sizes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5000 }), fc.nat(), fc.nat(), (size, seed, which) => {
        const m = seed % size;
        const root = big.mth(0, size);
        const proof = hashRanges(inclusionRanges(m, size), big.node);
        expect(verifyInclusion(m, size, big.leaves[m]!, proof, root)).toBe(true);
        const tampered = proof.map((h) => Buffer.from(h));
        const i = which % tampered.length;
        tampered[i]![which % 32]! ^= 1;
        expect(verifyInclusion(m, size, big.leaves[m]!, tampered, root)).toBe(false);
        expect(verifyInclusion(m, size, big.leaves[(m + 1) % size]!, proof, root)).toBe(false);
        expect(verifyInclusion(m, size, big.leaves[m]!, proof.slice(1), root)).toBe(false);
        expect(verifyInclusion(m, size + 1, big.leaves[m]!, proof, big.mth(0, size + 1))).toBe(false);
        if (size > 2) {
          const from = 1 + (seed % (size - 1));
          const c = hashRanges(consistencyRanges(from, size), big.node);
          expect(verifyConsistency(from, size, c, big.mth(0, from), root)).toBe(true);
          expect(verifyConsistency(from, size, c, big.mth(0, from), big.mth(0, size - 1))).toBe(false);
          expect(verifyConsistency(from, size, c, big.leaves[0]!, root)).toBe(from === 1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("refuses impossible requests", () => {
    expect(() => inclusionRanges(5, 5)).toThrow(RangeError);
    expect(() => consistencyRanges(0, 5)).toThrow(RangeError);
    expect(() => consistencyRanges(6, 5)).toThrow(RangeError);
    expect(consistencyRanges(7, 7)).toEqual([]);
  });
});
