import { describe, expect, it } from "vitest";
import { nextStep, type ConfirmationPolicy } from "./confirmation.js";

const byCount: ConfirmationPolicy = { rule: "confirmations", confirmations: 3, orphanWindowMs: 60_000, replaceAfterMs: 10_000 };
const byTag: ConfirmationPolicy = { ...byCount, rule: "finalized" };
const t = (now: number, broadcastAt = 0) => ({ now, submittedAt: 0, broadcastAt });

describe("nextStep", () => {
  it("confirms after N confirmations, counting the transaction's block", () => {
    expect(nextStep({ mined: { blockNumber: 10 }, previouslyMined: false, latestBlock: 11 }, byCount, t(1000))).toEqual({ action: "wait", confirmations: 2 });
    expect(nextStep({ mined: { blockNumber: 10 }, previouslyMined: true, latestBlock: 12 }, byCount, t(1000))).toEqual({ action: "confirm", rule: "confirmations", confirmations: 3 });
  });

  it("with the finalized rule, confirms only once the finalized tag reaches the block, whatever the depth", () => {
    expect(nextStep({ mined: { blockNumber: 10 }, previouslyMined: true, latestBlock: 50, finalizedBlock: 9 }, byTag, t(1000))).toEqual({ action: "wait", confirmations: 41 });
    expect(nextStep({ mined: { blockNumber: 10 }, previouslyMined: true, latestBlock: 50, finalizedBlock: 10 }, byTag, t(1000))).toEqual({ action: "confirm", rule: "finalized", confirmations: 41 });
  });

  it("rebroadcasts a transaction that is not mined, and says when a reorg took it out", () => {
    expect(nextStep({ previouslyMined: false, latestBlock: 5 }, byCount, t(1000))).toEqual({ action: "rebroadcast", reorged: false });
    expect(nextStep({ previouslyMined: true, latestBlock: 5 }, byCount, t(1000))).toEqual({ action: "rebroadcast", reorged: true });
  });

  it("replaces a transaction not mined within replaceAfterMs of its last broadcast", () => {
    expect(nextStep({ previouslyMined: false, latestBlock: 5 }, byCount, t(10_001, 0))).toEqual({ action: "replace" });
    expect(nextStep({ previouslyMined: false, latestBlock: 5 }, byCount, t(10_001, 5_000))).toEqual({ action: "rebroadcast", reorged: false });
  });

  it("fails a batch past the orphan window: orphan_window, or reorged when it had been mined", () => {
    expect(nextStep({ previouslyMined: false, latestBlock: 5 }, byCount, t(60_001))).toEqual({ action: "fail", reason: "orphan_window" });
    expect(nextStep({ previouslyMined: true, latestBlock: 5 }, byCount, t(60_001))).toEqual({ action: "fail", reason: "reorged" });
    expect(nextStep({ mined: { blockNumber: 4 }, previouslyMined: true, latestBlock: 5, finalizedBlock: 3 }, byTag, t(60_001))).toEqual({ action: "fail", reason: "orphan_window" });
  });

  it("a confirmed block is confirmed even past the orphan window", () => {
    expect(nextStep({ mined: { blockNumber: 4 }, previouslyMined: true, latestBlock: 9 }, byCount, t(60_001))).toMatchObject({ action: "confirm" });
  });
});
