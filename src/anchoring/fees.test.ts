import { describe, expect, it } from "vitest";
import { bumpedFees, feesFor } from "./fees.js";

describe("fee bump", () => {
  it("raises both fees by more than 10% over the replaced transaction", () => {
    const next = bumpedFees({ maxFeePerGas: 1000n, maxPriorityFeePerGas: 100n }, { maxFeePerGas: 900n, maxPriorityFeePerGas: 50n });
    expect(next).toEqual({ maxFeePerGas: 1126n, maxPriorityFeePerGas: 113n });
    expect(next.maxFeePerGas * 10n).toBeGreaterThan(1000n * 11n);
  });

  it("pays the current estimate when it is above the bump", () => {
    expect(bumpedFees({ maxFeePerGas: 1000n, maxPriorityFeePerGas: 100n }, { maxFeePerGas: 5000n, maxPriorityFeePerGas: 400n })).toEqual({ maxFeePerGas: 5000n, maxPriorityFeePerGas: 400n });
  });

  it("bumps a zero priority fee too, and keeps the max fee at least the priority fee", () => {
    expect(bumpedFees({ maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }, { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n })).toEqual({ maxFeePerGas: 1n, maxPriorityFeePerGas: 1n });
    expect(bumpedFees({ maxFeePerGas: 10n, maxPriorityFeePerGas: 100n }, { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }).maxFeePerGas).toBe(113n);
  });

  it("a first transaction at a nonce pays the estimate; one at a nonce already used outbids it", () => {
    const estimate = { maxFeePerGas: 2000n, maxPriorityFeePerGas: 10n };
    expect(feesFor(estimate, undefined)).toEqual(estimate);
    expect(feesFor(estimate, { maxFeePerGas: 4000n, maxPriorityFeePerGas: 10n })).toEqual({ maxFeePerGas: 4501n, maxPriorityFeePerGas: 12n });
  });
});
