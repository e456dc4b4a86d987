import { describe, expect, it } from "vitest";
import { flushStep, type FlushStep } from "./flush-plan.js";

describe("flushStep", () => {
  const rows: Array<[string, { waiting: number; running: number; max?: number; maxRunning?: number }, FlushStep]> = [
    ["nothing waits, idle", { waiting: 0, running: 0 }, "none"],
    ["nothing waits, a run in flight", { waiting: 0, running: 1 }, "none"],
    ["one call, idle: no window to wait out", { waiting: 1, running: 0 }, "end-of-turn"],
    ["some calls, idle", { waiting: 40, running: 0 }, "end-of-turn"],
    ["some calls while a run is in flight: they gather", { waiting: 40, running: 1 }, "after-run"],
    ["a full batch while a run is in flight still goes", { waiting: 100, running: 1 }, "now"],
    ["a full batch, idle", { waiting: 100, running: 0 }, "now"],
    ["over full (max lowered meanwhile)", { waiting: 150, running: 3 }, "now"],
    ["two runs allowed, one in flight", { waiting: 5, running: 1, maxRunning: 2 }, "end-of-turn"],
    ["two runs allowed, both in flight", { waiting: 5, running: 2, maxRunning: 2 }, "after-run"],
    ["batches of one", { waiting: 1, running: 1, max: 1 }, "now"],
  ];
  it.each(rows)("%s", (_, s, expected) => {
    expect(flushStep({ max: 100, maxRunning: 1, ...s })).toBe(expected);
  });
});
