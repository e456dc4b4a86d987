import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import type { EventRecord } from "./append.js";
import { advance, groupByStream, planBatch, splitByFrontier, type Frontier } from "./batch-plan.js";
import { leafOf, payloadSha256 } from "./leaf.js";
import { appendToTiles, TILE_WIDTH } from "./merkle/tiles.js";

const STREAM = "str_01J00000000000000000000000";
const occurredAt = new Date("2026-06-07T12:00:00Z");
const receivedAt = new Date("2026-06-07T12:00:01Z");
const input = (sourceRef: string, payload: Record<string, string> = { v: sourceRef }, tenantId = "ten_a") => ({
  tenantId,
  streamId: STREAM,
  sourceRef,
  eventType: "t",
  occurredAt,
  payload,
  payloadSha256: payloadSha256(payload),
});

describe("planBatch", () => {
  it("numbers new events after the tree's size and commits each to its leaf", () => {
    const plan = planBatch(STREAM, [input("a"), input("b")], { tenantId: "ten_a", treeSize: 10 }, new Map(), receivedAt);
    expect(plan.size).toBe(12);
    expect(plan.rows.map((r) => r.seqNo)).toEqual([11, 12]);
    const expected = leafOf({ ...input("a"), streamId: STREAM, seqNo: 11, receivedAt });
    expect(plan.rows[0]!.leaf.equals(expected.leaf)).toBe(true);
    expect(plan.rows[0]!.leafHash.equals(expected.leafHash)).toBe(true);
    expect(plan.results.map((r) => (r as { duplicate: boolean }).duplicate)).toEqual([false, false]);
  });

  it("answers a replay with the stored event, within the batch too, and writes it once", () => {
    const stored = planBatch(STREAM, [input("a")], { tenantId: "ten_a", treeSize: 0 }, new Map(), receivedAt).results[0] as { event: EventRecord };
    const known = new Map([["a", stored.event]]);
    const plan = planBatch(STREAM, [input("a"), input("b"), input("b")], { tenantId: "ten_a", treeSize: 1 }, known, receivedAt);
    expect(plan.rows.map((r) => r.sourceRef)).toEqual(["b"]);
    expect(plan.results.map((r) => (r as { duplicate: boolean }).duplicate)).toEqual([true, false, true]);
    expect((plan.results[0] as { event: EventRecord }).event.seqNo).toBe(1);
    expect((plan.results[2] as { event: EventRecord }).event.seqNo).toBe(2);
  });

  it("refuses a replay with other content as replay_conflict naming source_ref, and writes nothing for it", () => {
    const plan = planBatch(STREAM, [input("a"), input("a", { v: "other" })], { tenantId: "ten_a", treeSize: 0 }, new Map(), receivedAt);
    expect(plan.rows).toHaveLength(1);
    const err = plan.results[1] as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe("replay_conflict");
    expect(err.details).toMatchObject({ field: "source_ref", reason: "REPLAY_CONFLICT" });
  });

  it("treats another tenant's append as a missing stream", () => {
    const plan = planBatch(STREAM, [input("a", undefined, "ten_b")], { tenantId: "ten_a", treeSize: 0 }, new Map(), receivedAt);
    expect((plan.results[0] as AppError).code).toBe("not_found");
    expect(plan.rows).toHaveLength(0);
    expect(plan.size).toBe(0);
  });
});

describe("advance", () => {
  const hashes = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Buffer.alloc(32, (seed + i) % 256));

  it("keeps the partial tile of each level the batch wrote, and the older one where it wrote none", () => {
    // 300 leaves: level 0 has a full tile 0 and a partial tile 1 (44 hashes); level 1 a partial tile 0 (1 hash).
    const writes = appendToTiles(0, hashes(300, 0), () => Buffer.alloc(0));
    const frontier = advance({ tenantId: "ten_a", size: 0, partial: new Map() }, 300, writes);
    expect(frontier.size).toBe(300);
    expect(frontier.partial.get(0)!.length).toBe(44 * 32);
    expect(frontier.partial.get(1)!.length).toBe(32);
    // Two more leaves touch only level 0: level 1's partial tile is the one kept.
    const more = appendToTiles(300, hashes(2, 7), (level) => frontier.partial.get(level) ?? Buffer.alloc(0));
    expect(more.map((w) => w.level)).toEqual([0]);
    const next = advance(frontier, 302, more);
    expect(next.partial.get(0)!.length).toBe(46 * 32);
    expect(next.partial.get(1)).toBe(frontier.partial.get(1));
  });

  it("has no partial tile on a level that ends on a tile boundary", () => {
    const writes = appendToTiles(0, hashes(TILE_WIDTH, 1), () => Buffer.alloc(0));
    const frontier = advance({ tenantId: "ten_a", size: 0, partial: new Map() }, TILE_WIDTH, writes);
    expect(frontier.partial.has(0)).toBe(false);
    expect(frontier.partial.get(1)!.length).toBe(32);
  });
});

describe("groupByStream", () => {
  const m = (streamId: string, n: number) => ({ input: { streamId }, n });
  it.each([
    { name: "one stream keeps arrival order", batch: [m("a", 1), m("a", 2), m("a", 3)], want: [["a", [1, 2, 3]]] },
    { name: "interleaved streams, each in arrival order, by first arrival", batch: [m("b", 1), m("a", 2), m("b", 3), m("c", 4), m("a", 5)], want: [["b", [1, 3]], ["a", [2, 5]], ["c", [4]]] },
    { name: "empty", batch: [], want: [] },
  ])("$name", ({ batch, want }) => {
    expect([...groupByStream(batch)].map(([id, members]) => [id, members.map((x) => x.n)])).toEqual(want);
  });
});

describe("splitByFrontier", () => {
  const known: Frontier = { tenantId: "ten_a", size: 3, partial: new Map() };
  it.each([
    { name: "every stream known: all in the one statement", frontiers: { a: known, b: known }, optimistic: ["a", "b"], locked: [] },
    { name: "none known (first appends of this process): all locked", frontiers: {}, optimistic: [], locked: ["a", "b"] },
    { name: "mixed", frontiers: { b: known }, optimistic: ["b"], locked: ["a"] },
  ])("$name", ({ frontiers, optimistic, locked }) => {
    const groups = new Map([
      ["a", [1]],
      ["b", [2]],
    ]);
    const split = splitByFrontier(groups, (id) => (frontiers as Record<string, Frontier>)[id]);
    expect(split.optimistic.map((g) => g.streamId)).toEqual(optimistic);
    expect(split.optimistic.every((g) => g.before === known && g.members === groups.get(g.streamId))).toBe(true);
    expect(split.locked.map((g) => g.streamId)).toEqual(locked);
  });
});
