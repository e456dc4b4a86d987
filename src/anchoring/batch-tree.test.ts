import { describe, expect, it } from "vitest";
import { rootFromInclusionProof } from "../verify/merkle.js";
import { leafHash } from "../crypto/rfc9162.js";
import { RootAccumulator } from "../proofstream/merkle/accumulator.js";
import { buildBatchTree, joinHashes, splitHashes } from "./batch-tree.js";

const leaves = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`checkpoint note ${i}\n`));

describe("buildBatchTree", () => {
  it("has the RFC 9162 root and a verifying audit path for every leaf, for every size up to 70", () => {
    for (let n = 1; n <= 70; n++) {
      const input = leaves(n);
      const tree = buildBatchTree(input);
      const acc = new RootAccumulator();
      for (const leaf of input) acc.push(leafHash(leaf));
      expect(tree.root.equals(acc.root()), `root at ${n}`).toBe(true);
      input.forEach((leaf, i) => {
        expect(Buffer.from(rootFromInclusionProof(i, n, leafHash(leaf), tree.paths[i]!)).equals(tree.root), `leaf ${i} of ${n}`).toBe(true);
      });
    }
  });

  it("a path does not verify another leaf", () => {
    const input = leaves(9);
    const tree = buildBatchTree(input);
    expect(Buffer.from(rootFromInclusionProof(3, 9, leafHash(input[4]!), tree.paths[3]!)).equals(tree.root)).toBe(false);
  });

  it("refuses an empty batch", () => {
    expect(() => buildBatchTree([])).toThrow(RangeError);
  });

  it("stores paths concatenated and splits them back", () => {
    const path = buildBatchTree(leaves(13)).paths[5]!;
    expect(splitHashes(joinHashes(path))).toEqual(path);
    expect(splitHashes(Buffer.alloc(0))).toEqual([]);
  });
});
