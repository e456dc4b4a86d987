import { describe, expect, it } from "vitest";
import { Batcher } from "./batcher.js";

describe("Batcher", () => {
  it("runs the calls of one moment as one batch and hands each its own result", async () => {
    const runs: string[][] = [];
    const batcher = new Batcher<number, number>(async (inputs) => {
      runs.push(inputs.map(([k]) => k));
      return new Map(inputs.map(([k, n]) => [k, n * 2]));
    });
    const results = await Promise.all([batcher.get("a", 1), batcher.get("b", 2), batcher.get("c", 3)]);
    expect(results).toEqual([2, 4, 6]);
    expect(runs).toEqual([["a", "b", "c"]]);
  });

  it("flushes at once when the batch is full, and starts a new one after", async () => {
    const runs: number[] = [];
    const batcher = new Batcher<null, true>(async (inputs) => {
      runs.push(inputs.length);
      return new Map(inputs.map(([k]) => [k, true]));
    }, 2, 60_000);
    // With a one-minute window, only the size limit can flush the first two.
    await Promise.all([batcher.get("a", null), batcher.get("b", null)]);
    expect(runs).toEqual([2]);
  });

  it("answers undefined for a key asked twice in one batch, and for a key the run left out", async () => {
    const batcher = new Batcher<null, string>(async (inputs) => new Map(inputs.filter(([k]) => k !== "gone").map(([k]) => [k, k])));
    const [first, second, gone] = await Promise.all([batcher.get("x", null), batcher.get("x", null), batcher.get("gone", null)]);
    expect(first).toBe("x");
    expect(second).toBeUndefined();
    expect(gone).toBeUndefined();
  });

  it("rejects every call of a batch whose run failed, and serves the next batch", async () => {
    let fail = true;
    const batcher = new Batcher<null, number>(async (inputs) => {
      if (fail) throw new Error("database down");
      return new Map(inputs.map(([k]) => [k, 1]));
    });
    const results = await Promise.allSettled([batcher.get("a", null), batcher.get("b", null)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    fail = false;
    expect(await batcher.get("a", null)).toBe(1);
  });
});
