import { afterEach, describe, expect, it, vi } from "vitest";
import { AnnouncementPacer } from "./announcement-pacer.js";
import type { CheckpointRecord } from "./checkpoints.js";

const checkpoint = (streamId: string, treeSize: number, cosignatureCount = 0) => ({ streamId, treeSize, cosignatureCount }) as CheckpointRecord;

describe("AnnouncementPacer", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function pacer(windowMs = 20) {
    vi.useFakeTimers();
    const published: Array<[string, number, number]> = [];
    const p = new AnnouncementPacer(
      (c) => published.push([c.streamId, c.treeSize, c.cosignatureCount]),
      windowMs,
      () => Date.now(),
    );
    return { p, published };
  }

  it("publishes the first of a window at once and only the newest of the rest at its end", () => {
    const { p, published } = pacer();
    p.announce(checkpoint("a", 1));
    expect(published).toEqual([["a", 1, 0]]);
    p.announce(checkpoint("a", 2));
    p.announce(checkpoint("a", 5));
    p.announce(checkpoint("a", 4)); // an older size arriving late is not newer than what waits
    expect(published).toHaveLength(1);
    vi.advanceTimersByTime(19);
    expect(published).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(published).toEqual([
      ["a", 1, 0],
      ["a", 5, 0],
    ]);
    // Nothing more waits: the next window opens with no publish of its own.
    vi.advanceTimersByTime(100);
    expect(published).toHaveLength(2);
    p.announce(checkpoint("a", 6));
    expect(published.at(-1)).toEqual(["a", 6, 0]);
  });

  it("takes the same size announced again with its cosignatures", () => {
    const { p, published } = pacer();
    p.announce(checkpoint("a", 3));
    p.announce(checkpoint("a", 3, 2));
    vi.advanceTimersByTime(20);
    expect(published).toEqual([
      ["a", 3, 0],
      ["a", 3, 2],
    ]);
  });

  it("paces each stream on its own", () => {
    const { p, published } = pacer();
    p.announce(checkpoint("a", 1));
    p.announce(checkpoint("b", 1));
    p.announce(checkpoint("a", 2));
    expect(published).toEqual([
      ["a", 1, 0],
      ["b", 1, 0],
    ]);
    vi.advanceTimersByTime(20);
    expect(published.at(-1)).toEqual(["a", 2, 0]);
  });

  it("publishes what waits at close", () => {
    const { p, published } = pacer();
    p.announce(checkpoint("a", 1));
    p.announce(checkpoint("a", 2));
    p.close();
    expect(published).toEqual([
      ["a", 1, 0],
      ["a", 2, 0],
    ]);
    vi.advanceTimersByTime(100);
    expect(published).toHaveLength(2);
  });
});
