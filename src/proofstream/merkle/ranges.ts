import { nodeHash } from "../../crypto/rfc9162.js";
import { splitPoint } from "../../verify/merkle.js";

/**
 * Proof plans. An RFC 9162 proof is a list of Merkle tree hashes of leaf
 * ranges; each range is the concatenation of complete, aligned subtrees
 * ("nodes"), whose hashes storage keeps. Planning is pure arithmetic, so a
 * proof costs one batched read of O(log n) node hashes.
 */

/** A complete subtree: 2^level leaves starting at leaf index << level. */
export interface NodeRef {
  level: number;
  index: number;
}

/** A leaf range [start, end). */
export type Range = readonly [start: number, end: number];

/** The complete aligned subtrees that make up [start, end), left to right. */
export function rangeNodes([start, end]: Range): NodeRef[] {
  const nodes: NodeRef[] = [];
  let at = start;
  while (at < end) {
    let level = 0;
    // Grow while still aligned and inside the range.
    while (at % 2 ** (level + 1) === 0 && at + 2 ** (level + 1) <= end) level++;
    nodes.push({ level, index: at / 2 ** level });
    at += 2 ** level;
  }
  return nodes;
}

/** Folds the node hashes of a range right to left, as RFC 9162's MTH splits it. */
export function foldRange(hashes: readonly Uint8Array[]): Buffer {
  if (hashes.length === 0) throw new Error("empty range");
  let acc: Buffer = Buffer.from(hashes[hashes.length - 1]!);
  for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHash(hashes[i]!, acc);
  return acc;
}

/** RFC 9162 2.1.3.1 PATH(m, D[n]) as leaf ranges, leaf level first. */
export function inclusionRanges(index: number, size: number): Range[] {
  if (index < 0 || index >= size) throw new RangeError(`leaf ${index} is not in a tree of size ${size}`);
  const out: Range[] = [];
  const walk = (m: number, lo: number, hi: number) => {
    const n = hi - lo;
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      walk(m, lo, lo + k);
      out.push([lo + k, hi]);
    } else {
      walk(m - k, lo + k, hi);
      out.push([lo, lo + k]);
    }
  };
  walk(index, 0, size);
  return out;
}

/** RFC 9162 2.1.4.1 PROOF(m, D[n]) as leaf ranges. */
export function consistencyRanges(from: number, to: number): Range[] {
  if (from < 1 || from > to) throw new RangeError(`no consistency proof from ${from} to ${to}`);
  if (from === to) return [];
  const out: Range[] = [];
  const sub = (m: number, lo: number, hi: number, complete: boolean) => {
    const n = hi - lo;
    if (m === n) {
      if (!complete) out.push([lo, hi]);
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      sub(m, lo, lo + k, complete);
      out.push([lo + k, hi]);
    } else {
      sub(m - k, lo + k, hi, false);
      out.push([lo, lo + k]);
    }
  };
  sub(from, 0, to, true);
  return out;
}

/** Every node the ranges need, without repeats, for one batched read. */
export function nodesOf(ranges: readonly Range[]): NodeRef[] {
  const seen = new Map<string, NodeRef>();
  for (const range of ranges) for (const node of rangeNodes(range)) seen.set(`${node.level}/${node.index}`, node);
  return [...seen.values()];
}

/** Turns ranges into proof hashes, given a lookup of node hashes. */
export function hashRanges(ranges: readonly Range[], lookup: (node: NodeRef) => Uint8Array): Buffer[] {
  return ranges.map((range) => foldRange(rangeNodes(range).map(lookup)));
}

/** A proof planned once: the nodes to read, and how their hashes become the proof. */
export interface ProofPlan {
  /** Nodes whose hashes `hashes` will look up (repeats possible; reads dedupe by tile). */
  nodes: NodeRef[];
  hashes(lookup: (node: NodeRef) => Buffer): Buffer[];
}

/**
 * Plans the hashes of `ranges` in a tree of `size` leaves. A range that
 * ends at the tree's right edge and spans several nodes (a partial
 * subtree) is folded once per tree size: `edge` keeps its hash by the
 * range's start, and a later plan for that size reads none of its nodes.
 * Every other range is one complete subtree (RFC 9162's recursion only
 * splits off incomplete subtrees at the right edge), so it costs a lookup.
 */
export function planProof(ranges: readonly Range[], size: number, edge: Map<number, Buffer>): ProofPlan {
  const parts = ranges.map(([start, end]) => {
    const cached = end === size ? edge.get(start) : undefined;
    return { start, end, cached, nodes: cached ? undefined : rangeNodes([start, end]) };
  });
  const nodes: NodeRef[] = [];
  for (const p of parts) if (p.nodes) nodes.push(...p.nodes);
  return {
    nodes,
    hashes: (lookup) =>
      parts.map((p) => {
        if (p.cached) return p.cached;
        const hashes = p.nodes!;
        if (hashes.length === 1) return lookup(hashes[0]!);
        const folded = foldRange(hashes.map(lookup));
        if (p.end === size) edge.set(p.start, folded);
        return folded;
      }),
  };
}
