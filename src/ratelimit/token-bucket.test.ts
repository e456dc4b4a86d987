import { describe, expect, it } from "vitest";
import { TokenBucket } from "./token-bucket.js";

describe("TokenBucket", () => {
  it("gives the burst at once, then refills at its rate", () => {
    const bucket = new TokenBucket(3, 3 / 1000, 0);
    for (let i = 0; i < 3; i++) expect(bucket.take(0)).toBe(true);
    expect(bucket.take(0)).toBe(false);
    expect(bucket.msUntilToken(0)).toBeCloseTo(333.3, 0);
    expect(bucket.take(300)).toBe(false);
    expect(bucket.take(334)).toBe(true);
    expect(bucket.take(334)).toBe(false);
  });

  it("never holds more than the burst, however long the caller was away (a stalled event loop)", () => {
    const bucket = new TokenBucket(2, 2 / 1000, 0);
    expect(bucket.take(0) && bucket.take(0)).toBe(true);
    expect(bucket.available(60_000)).toBe(2);
    expect(bucket.take(60_000) && bucket.take(60_000)).toBe(true);
    expect(bucket.take(60_000)).toBe(false);
  });

  it("does not refill when the clock goes back", () => {
    const bucket = new TokenBucket(1, 1 / 1000, 10_000);
    expect(bucket.take(10_000)).toBe(true);
    expect(bucket.take(5_000)).toBe(false);
    expect(bucket.take(10_500)).toBe(false);
    expect(bucket.take(11_000)).toBe(true);
  });
});
