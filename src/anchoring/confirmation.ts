/**
 * What the confirmation tracker does next with a submitted batch, decided
 * from what the chain says now. Pure: the tracker gathers the facts.
 */
export interface ChainFacts {
  /** Where one of the batch's transactions is mined on the canonical chain, if it is. */
  mined?: { blockNumber: number };
  /** The block the batch was last seen mined in, before this look (a reorg moved it out if `mined` is now unset). */
  previouslyMined: boolean;
  latestBlock: number;
  /** The node's finalized block number; undefined when the chain has no finality tag (or it is not used). */
  finalizedBlock?: number;
}

export interface ConfirmationPolicy {
  /** "finalized": the node's tag decides; "confirmations": N blocks decide. */
  rule: "finalized" | "confirmations";
  confirmations: number;
  /** A batch not confirmed this long after its first broadcast fails. */
  orphanWindowMs: number;
  /** A transaction not mined this long after its last broadcast is replaced with a higher fee. */
  replaceAfterMs: number;
}

export type NextStep =
  | { action: "confirm"; rule: "finalized" | "confirmations"; confirmations: number }
  | { action: "wait"; confirmations: number }
  | { action: "fail"; reason: "orphan_window" | "reorged" }
  | { action: "replace" }
  | { action: "rebroadcast"; reorged: boolean };

export function nextStep(facts: ChainFacts, policy: ConfirmationPolicy, times: { now: number; submittedAt: number; broadcastAt: number }): NextStep {
  if (facts.mined) {
    const confirmations = Math.max(0, facts.latestBlock - facts.mined.blockNumber + 1);
    if (policy.rule === "finalized") {
      if (facts.finalizedBlock !== undefined && facts.finalizedBlock >= facts.mined.blockNumber) return { action: "confirm", rule: "finalized", confirmations };
    } else if (confirmations >= policy.confirmations) {
      return { action: "confirm", rule: "confirmations", confirmations };
    }
    // Mined but not final: the orphan window still applies (a block that never finalizes).
    if (times.now - times.submittedAt > policy.orphanWindowMs) return { action: "fail", reason: "orphan_window" };
    return { action: "wait", confirmations };
  }
  if (times.now - times.submittedAt > policy.orphanWindowMs) return { action: "fail", reason: facts.previouslyMined ? "reorged" : "orphan_window" };
  if (!facts.previouslyMined && times.now - times.broadcastAt > policy.replaceAfterMs) return { action: "replace" };
  // Not mined (never, or reorged out): send the stored bytes again; a node that has them ignores it.
  return { action: "rebroadcast", reorged: facts.previouslyMined };
}
