import { describe, expect, it } from "vitest";
import { decodeTileIndex, encodeTileIndex, hashesAtLevel, locateNode, partialTiles, TILE_WIDTH } from "./tiles.js";

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
