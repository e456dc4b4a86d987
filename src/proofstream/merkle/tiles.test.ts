import { describe, expect, it } from "vitest";
import { nodeHash } from "../../crypto/rfc9162.js";
import { decodeTileIndex, encodeTileIndex, ExpandedTile, hashesAtLevel, locateNode, partialTiles, TILE_WIDTH } from "./tiles.js";

describe("tile math", () => {
  it.each([
    [0, "000"],
    [5, "005"],
    [999, "999"],
    [1000, "x001/000"],
    [1234067, "x001/x234/067"],
  ])("encodes tile index %i as %s and back", (n, path) => {
    expect(encodeTileIndex(n)).toBe(path);
    expect(decodeTileIndex(path)).toBe(n);
  });

  it.each(["", "5", "0005", "x000/005", "001/002", "x01/000", "x001/000/", "abc"])("refuses the non-canonical path %j", (path) => {
    expect(decodeTileIndex(path)).toBeUndefined();
  });

  it("counts the hashes of each level and the partial tiles of a tree", () => {
    expect(hashesAtLevel(70_000, 0)).toBe(70_000);
    expect(hashesAtLevel(70_000, 1)).toBe(273);
    expect(hashesAtLevel(70_000, 2)).toBe(1);
    expect(partialTiles(70_000)).toEqual([
      { level: 0, index: 273, width: 70_000 % TILE_WIDTH },
      { level: 1, index: 1, width: 273 - TILE_WIDTH },
      { level: 2, index: 0, width: 1 },
    ]);
    expect(partialTiles(TILE_WIDTH)).toEqual([{ level: 1, index: 0, width: 1 }]);
    expect(partialTiles(0)).toEqual([]);
  });

  it("finds the tile, offset and span of a tree node", () => {
    expect(locateNode({ level: 0, index: 300 })).toEqual({ tile: { level: 0, index: 1 }, offset: 44, span: 1 });
    expect(locateNode({ level: 8, index: 2 })).toEqual({ tile: { level: 1, index: 0 }, offset: 2, span: 1 });
  });
});

describe("ExpandedTile", () => {
  it("keeps its rows in one allocation of its own, the size its budget counts, not in the buffer it was read into", () => {
    // As a tile comes from the database: a slice of a larger shared block.
    const block = Buffer.alloc(64 * 1024, 7);
    for (const width of [1, 3, 200, TILE_WIDTH]) {
      const read = block.subarray(4096, 4096 + width * 32);
      const tile = new ExpandedTile(read);
      expect(tile.width).toBe(width);
      const memory = tile.rows[0]!.buffer;
      expect(memory).not.toBe(block.buffer);
      expect(tile.rows.every((row) => row.buffer === memory)).toBe(true);
      expect(memory.byteLength).toBe(tile.bytes);
      expect(tile.rows[0]!.equals(read)).toBe(true);
      // The hashes above are the tile's own: two leaves' parent, as the row below pairs them.
      if (width >= 2) expect(tile.subtree(0, 2).equals(nodeHash(read.subarray(0, 32), read.subarray(32, 64)))).toBe(true);
    }
  });
});
