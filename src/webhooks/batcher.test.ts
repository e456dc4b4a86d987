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
    }, 2);
    // Both calls of one turn: the second fills the batch, which goes before the turn ends.
    const both = Promise.all([batcher.get("a", null), batcher.get("b", null)]);
    expect(runs).toEqual([2]);
    await both;
    await batcher.get("c", null);
    expect(runs).toEqual([2, 1]);
  });

  it("gathers the calls made while a run is in flight and sends them together when it ends", async () => {
    const runs: string[][] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const batcher = new Batcher<null, true>(async (inputs) => {
      runs.push(inputs.map(([k]) => k));
      if (runs.length === 1) await held;
      return new Map(inputs.map(([k]) => [k, true]));
    });
    const first = batcher.get("a", null);
    // The idle batcher sends "a" at the end of this turn, without a window.
    await new Promise((r) => setImmediate(r));
    expect(runs).toEqual([["a"]]);
    // While that run is held, later calls (over several turns) wait for it.
    const later = [batcher.get("b", null)];
    await new Promise((r) => setImmediate(r));
    later.push(batcher.get("c", null));
    await new Promise((r) => setImmediate(r));
    expect(runs).toEqual([["a"]]);
    release();
    expect(await Promise.all([first, ...later])).toEqual([true, true, true]);
    expect(runs).toEqual([["a"], ["b", "c"]]);
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
