import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { utf8 } from "./bytes.js";
import {
  EMPTY_ROOT,
  leafHash,
  nodeHash,
  ProofError,
  rangeProofRanges,
  rootFromInclusionProof,
  rootFromRangeProof,
  rootOfLeafHashes,
  splitPoint,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.js";

/** RFC 9162 section 2.1 as literally as possible, with node:crypto: the reference the library must match. */
const sha = (...parts: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const leaves = (n: number) => Array.from({ length: n }, (_, i) => sha(new Uint8Array([0]), utf8(`leaf ${i}`)));
const k = (n: number) => 2 ** Math.ceil(Math.log2(n) - 1);
function mth(l: Uint8Array[], lo: number, hi: number): Uint8Array {
  if (hi - lo === 1) return l[lo]!;
  const split = lo + k(hi - lo);
  return sha(new Uint8Array([1]), mth(l, lo, split), mth(l, split, hi));
}
function path(l: Uint8Array[], m: number, lo: number, hi: number): Uint8Array[] {
  if (hi - lo === 1) return [];
  const s = k(hi - lo);
  return m < s ? [...path(l, m, lo, lo + s), mth(l, lo + s, hi)] : [...path(l, m - s, lo + s, hi), mth(l, lo, lo + s)];
}
function subproof(l: Uint8Array[], m: number, lo: number, hi: number, b: boolean): Uint8Array[] {
  if (m === hi - lo) return b ? [] : [mth(l, lo, hi)];
  const s = k(hi - lo);
  return m <= s ? [...subproof(l, m, lo, lo + s, b), mth(l, lo + s, hi)] : [...subproof(l, m - s, lo + s, hi, false), mth(l, lo, lo + s)];
}

const SIZES = Array.from({ length: 33 }, (_, i) => i + 1);

describe("verify/merkle: RFC 9162 hashing and proofs", () => {
  it("hashes leaves and nodes with their domain prefixes, and the empty tree as SHA-256 of nothing", () => {
    const a = utf8("a");
    const b = utf8("b");
    expect(leafHash(a)).toEqual(sha(new Uint8Array([0]), a));
    expect(nodeHash(a, b)).toEqual(sha(new Uint8Array([1]), a, b));
    expect(EMPTY_ROOT).toEqual(sha());
  });

  it("splits at the largest power of two below n", () => {
    expect([2, 3, 4, 5, 8, 9, 1000].map(splitPoint)).toEqual([1, 2, 2, 4, 4, 8, 512]);
  });

  it("computes the tree head of every size up to 33 as the reference does", () => {
    for (const n of SIZES) {
      const l = leaves(n);
      expect(rootOfLeafHashes(l), `size ${n}`).toEqual(mth(l, 0, n));
    }
  });

  it("verifies every inclusion proof of trees up to 33 leaves, and refuses the wrong leaf, index, size or root", () => {
    for (const n of SIZES) {
      const l = leaves(n);
      const root = mth(l, 0, n);
      for (let m = 0; m < n; m++) {
        const proof = path(l, m, 0, n);
        expect(verifyInclusion(m, n, l[m]!, proof, root), `${m} of ${n}`).toBe(true);
        expect(rootFromInclusionProof(m, n, l[m]!, proof)).toEqual(root);
        if (n > 1) {
          expect(verifyInclusion(m, n, l[(m + 1) % n]!, proof, root)).toBe(false);
          expect(verifyInclusion(m, n, l[m]!, proof, l[m]!)).toBe(false);
        }
      }
    }
    const l = leaves(5);
    expect(verifyInclusion(0, 5, l[0]!, path(l, 0, 0, 5), mth(l, 0, 5))).toBe(true);
    expect(verifyInclusion(0, 5, l[0]!, path(l, 0, 0, 5).slice(1), mth(l, 0, 5))).toBe(false);
    expect(() => rootFromInclusionProof(5, 5, l[0]!, [])).toThrow(ProofError);
    expect(() => rootFromInclusionProof(-1, 5, l[0]!, [])).toThrow(ProofError);
  });

  it("verifies every consistency proof between sizes up to 33, and refuses swapped roots", () => {
    for (const n of SIZES) {
      const l = leaves(n);
      for (let m = 1; m <= n; m++) {
        const proof = m === n ? [] : subproof(l, m, 0, n, true);
        expect(verifyConsistency(m, n, proof, mth(l, 0, m), mth(l, 0, n)), `${m} → ${n}`).toBe(true);
        if (m < n) expect(verifyConsistency(m, n, proof, mth(l, 0, n), mth(l, 0, m)), `${m} → ${n} swapped`).toBe(false);
      }
    }
  });

  it("proves every contiguous range with the hashes outside it, each range's root the tree head", () => {
    for (const n of [1, 2, 3, 7, 8, 13]) {
      const l = leaves(n);
      const root = mth(l, 0, n);
      for (let begin = 0; begin < n; begin++) {
        for (let end = begin + 1; end <= n; end++) {
          const proof = rangeProofRanges(begin, end, n).map(([lo, hi]) => mth(l, lo, hi));
          expect(rootFromRangeProof(begin, n, l.slice(begin, end), proof), `[${begin}, ${end}) of ${n}`).toEqual(root);
          expect(() => rootFromRangeProof(begin, n, l.slice(begin, end), [...proof, root])).toThrow(ProofError);
        }
      }
    }
    expect(() => rangeProofRanges(3, 3, 5)).toThrow(ProofError);
    expect(() => rangeProofRanges(0, 6, 5)).toThrow(ProofError);
  });
});
