import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { leafHash, nodeHash } from "../../crypto/rfc9162.js";
import { consistencyRanges, foldRange, hashRanges, inclusionRanges, planProof, rangeNodes, type NodeRef } from "./ranges.js";

/** A tree of `n` leaves held in memory: every complete subtree's hash, looked up like stored tiles. */
function memoryTree(n: number) {
  const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
  const node = ({ level, index }: NodeRef): Buffer => (level === 0 ? leaves[index]! : nodeHash(node({ level: level - 1, index: 2 * index }), node({ level: level - 1, index: 2 * index + 1 })));
  const looked: NodeRef[] = [];
  return {
    lookup: (n: NodeRef) => {
      looked.push(n);
      return node(n);
    },
    looked,
  };
}

describe("planProof", () => {
  it.each([
    { name: "inclusion, leaf on the left edge", size: 1000, ranges: inclusionRanges(0, 1000) },
    { name: "inclusion, leaf in the middle", size: 1000, ranges: inclusionRanges(517, 1000) },
    { name: "inclusion, last leaf", size: 1000, ranges: inclusionRanges(999, 1000) },
    { name: "inclusion in a power-of-two tree (no partial subtree)", size: 1024, ranges: inclusionRanges(300, 1024) },
    { name: "consistency", size: 1000, ranges: consistencyRanges(300, 1000) },
    { name: "consistency to itself", size: 77, ranges: consistencyRanges(77, 77) },
  ])("gives the hashes of hashRanges: $name", ({ size, ranges }) => {
    const tree = memoryTree(size);
    const want = hashRanges(ranges, tree.lookup);
    const edge = new Map<number, Buffer>();
    expect(planProof(ranges, size, edge).hashes(tree.lookup)).toEqual(want);
    // And again from the cached right edge, which reads fewer nodes.
    const again = planProof(ranges, size, edge);
    expect(again.hashes(tree.lookup)).toEqual(want);
    expect(again.nodes.length).toBeLessThanOrEqual(planProof(ranges, size, new Map()).nodes.length);
  });

  it("keeps the fold of each partial right-edge range by its start, and then plans none of its nodes", () => {
    const size = 1000;
    const ranges = inclusionRanges(5, size);
    const edge = new Map<number, Buffer>();
    const tree = memoryTree(size);
    const first = planProof(ranges, size, edge);
    first.hashes(tree.lookup);
    const partial = ranges.filter(([s, e]) => e === size && rangeNodes([s, e]).length > 1);
    expect(partial.length).toBeGreaterThan(0);
    expect([...edge.keys()].sort((a, b) => a - b)).toEqual(partial.map(([s]) => s).sort((a, b) => a - b));
    for (const [s, e] of partial) expect(edge.get(s)).toEqual(foldRange(rangeNodes([s, e]).map(tree.lookup)));
    const second = planProof(ranges, size, edge);
    const partialNodes = partial.flatMap((r) => rangeNodes(r));
    expect(second.nodes).toHaveLength(first.nodes.length - partialNodes.length);
  });

  it("does not use a right edge cached for another tree size", () => {
    const tree = memoryTree(1001);
    const edge = new Map<number, Buffer>([[512, createHash("sha256").update("not this tree").digest()]]);
    const ranges = inclusionRanges(3, 1001);
    expect(planProof(ranges, 1001, new Map()).hashes(tree.lookup)).toEqual(hashRanges(ranges, tree.lookup));
    // The same map passed as 1001's edge would be wrong; sizes never share one (TileCache keys them by size).
    expect(planProof(ranges, 1001, edge).hashes(tree.lookup)).not.toEqual(hashRanges(ranges, tree.lookup));
  });
});
