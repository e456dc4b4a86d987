import type { Config } from "../config.js";

export interface AnchoringSettings {
  /** JSON-RPC endpoint of the EVM chain; unset: the local dev chain when `devChain`, else anchoring is off. */
  rpcUrl: string | undefined;
  /** EIP-155 chain id the node must report; unset: whatever it reports. */
  chainId: number | undefined;
  /** 0x-hex secp256k1 key of the sender; unset: a generated key sealed in the database. */
  senderKey: string | undefined;
  /** Without rpcUrl, start a Hardhat dev chain on loopback when Hardhat is installed. */
  devChain: boolean;
  /** The dev chain the primary of `serve --workers N` started for its workers (used instead of starting one). */
  devChainUrl?: string;
  intervalMs: number;
  pollMs: number;
  /** auto: the node's finalized tag when it has one, else N confirmations. */
  finality: "auto" | "finalized" | "confirmations";
  confirmations: number;
  orphanWindowMs: number;
  replaceAfterMs: number;
  /** Largest number of checkpoints in one batch (more wait for the next). */
  maxMembers: number;
  rpcTimeoutMs: number;
}

/** The anchoring module's settings (ATTESTO_ANCHOR_* variables). */
export function anchoringSettings(config: Config): AnchoringSettings {
  return {
    rpcUrl: config.anchorRpcUrl,
    chainId: config.anchorChainId,
    senderKey: config.anchorPrivateKey,
    devChain: config.anchorDevChain,
    intervalMs: config.anchorIntervalMs,
    pollMs: config.anchorPollMs,
    finality: config.anchorFinality,
    confirmations: config.anchorConfirmations,
    orphanWindowMs: config.anchorOrphanWindowMs,
    replaceAfterMs: config.anchorReplaceAfterMs,
    maxMembers: config.anchorMaxMembers,
    rpcTimeoutMs: config.anchorRpcTimeoutMs,
  };
}
