import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { RootAccumulator } from "./accumulator.js";
import { HASH_SIZE } from "../../verify/merkle.js";
import { appendToEdge, edgeFromTiles, edgeRoot, type RightEdge } from "./right-edge.js";
import { appendToTiles, TILE_WIDTH } from "./tiles.js";

const LEAVES = Array.from({ length: 70_600 }, (_, i) => createHash("sha256").update(`leaf ${i}`).digest());
const leaf = (i: number) => LEAVES[i]!;
const memo = new Map<number, Map<number, Map<number, Buffer>>>();

/** Tiles as appendToTiles (the reference) leaves them: level → index → hashes. */
function tilesOf(size: number): Map<number, Map<number, Buffer>> {
  const known = memo.get(size);
  if (known) return known;
  const tiles = new Map<number, Map<number, Buffer>>();
  const partial = (level: number) => {
    const row = tiles.get(level);
    const count = Math.floor(size / TILE_WIDTH ** level);
    return row?.get(Math.floor(count / TILE_WIDTH)) ?? Buffer.alloc(0);
  };
  const all = LEAVES.slice(0, size);
  const wanted = size;
  size = 0;
  for (let at = 0; at < all.length; at += 4099) {
    const chunk = all.slice(at, at + 4099);
    for (const w of appendToTiles(size, chunk, partial)) {
      if (!tiles.has(w.level)) tiles.set(w.level, new Map());
      tiles.get(w.level)!.set(w.index, w.hashes);
    }
    size += chunk.length;
  }
  memo.set(wanted, tiles);
  return tiles;
}

function edgeOf(size: number): RightEdge {
  const tiles = tilesOf(size);
  return edgeFromTiles(size, (level) => tiles.get(level)?.get(Math.floor(Math.floor(size / TILE_WIDTH ** level) / TILE_WIDTH)));
}

function rootOf(size: number): Buffer | undefined {
  const acc = new RootAccumulator();
  for (let i = 0; i < size; i++) acc.push(leaf(i));
  return size === 0 ? undefined : acc.root();
}

describe("right edge", () => {
  it.each([0, 1, 2, 3, 255, 256, 257, 511, 65_535, 65_536, 65_537, 70_000])("of a tree of %i leaves, read from its tiles, folds to the tree's root", (size) => {
    const edge = edgeOf(size);
    expect(edge.hashes.length / HASH_SIZE).toBe(
      size
        .toString(2)
        .split("")
        .filter((b) => b === "1").length,
    );
    expect(edgeRoot(edge)?.toString("hex")).toBe(rootOf(size)?.toString("hex"));
  });

  it.each([
    [0, 1],
    [0, 256],
    [5, 300],
    [255, 1],
    [65_535, 1],
    [65_530, 600],
    [70_000, 3],
  ])("appending to a tree of %i leaves %i more gains the hashes the reference tiles gain, and the edge of the larger tree", (size, more) => {
    const edge = edgeOf(size);
    const leaves = Array.from({ length: more }, (_, i) => leaf(size + i));
    const { edge: after, writes } = appendToEdge(edge, leaves);
    expect(after.size).toBe(size + more);
    expect(after.hashes.equals(edgeOf(size + more).hashes)).toBe(true);
    expect(edgeRoot(after)!.equals(rootOf(size + more)!)).toBe(true);
    // What each tile gains is what the reference writes after the bytes the tile kept.
    const tiles = tilesOf(size);
    const reference = appendToTiles(size, leaves, (level) => tiles.get(level)?.get(Math.floor(Math.floor(size / TILE_WIDTH ** level) / TILE_WIDTH)) ?? Buffer.alloc(0));
    expect(writes.map((w) => ({ level: w.level, index: w.index, kept: w.kept, added: w.added.toString("hex") }))).toEqual(
      reference.map((w) => ({ level: w.level, index: w.index, kept: w.kept, added: w.hashes.subarray(w.kept).toString("hex") })),
    );
  });

  it("refuses tiles that hold fewer hashes than the size says", () => {
    const tiles = tilesOf(300);
    expect(() => edgeFromTiles(301, (level) => tiles.get(level)?.get(level === 0 ? 1 : 0))).toThrow(/should hold 45 hashes, found 44/);
  });
});
