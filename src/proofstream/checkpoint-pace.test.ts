import { describe, expect, it } from "vitest";
import { CheckpointPace } from "./checkpoint-pace.js";

describe("CheckpointPace", () => {
  it("a stream is due until signed, then again once an interval has passed", () => {
    let now = 5_000;
    const pace = new CheckpointPace(1_000, () => now);
    expect(pace.due("a")).toBe(true);
    pace.signed("a");
    expect(pace.due("a")).toBe(false);
    expect(pace.due("b")).toBe(true);
    now += 999;
    expect(pace.due("a")).toBe(false);
    now += 1;
    expect(pace.due("a")).toBe(true);
  });

  it("the periodic job leaves alone what was signed within half an interval", () => {
    expect(new CheckpointPace(1_000).recentMs).toBe(500);
    expect(new CheckpointPace(301).recentMs).toBe(150);
  });
});
