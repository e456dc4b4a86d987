import { describe, expect, it } from "vitest";
import { CheckpointRetries } from "./checkpoint-retries.js";

describe("CheckpointRetries", () => {
  it("lets every stream through until it fails", () => {
    const retries = new CheckpointRetries(1_000, 8_000);
    expect(retries.due("a", 0)).toBe(true);
    expect(retries.size).toBe(0);
  });

  it("holds a failing stream back for twice as long each time, up to the longest delay", () => {
    const retries = new CheckpointRetries(1_000, 8_000);
    const delays: number[] = [];
    let now = 0;
    for (let i = 0; i < 6; i++) {
      const { retryInMs } = retries.failed("a", now);
      delays.push(retryInMs);
      expect(retries.due("a", now + retryInMs - 1)).toBe(false);
      expect(retries.due("a", now + retryInMs)).toBe(true);
      now += retryInMs;
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    expect(retries.due("b", 0)).toBe(true);
  });

  it("reports the first failure and then only those at the longest delay", () => {
    const retries = new CheckpointRetries(1_000, 4_000);
    const reports = Array.from({ length: 5 }, () => retries.failed("a", 0).report);
    expect(reports).toEqual([true, false, true, true, true]);
  });

  it("forgets a stream that signs again, saying how many failures it had", () => {
    const retries = new CheckpointRetries();
    retries.failed("a", 0);
    retries.failed("a", 0);
    expect(retries.succeeded("a")).toBe(2);
    expect(retries.due("a", 0)).toBe(true);
    expect(retries.succeeded("a")).toBe(0);
    expect(retries.size).toBe(0);
  });

  it("keeps the delay finite after very many failures", () => {
    const retries = new CheckpointRetries(1_000, 300_000);
    let last = 0;
    for (let i = 0; i < 2_000; i++) last = retries.failed("a", 0).retryInMs;
    expect(last).toBe(300_000);
  });
});
