import path from "node:path";
import type { Config } from "../config.js";

export interface AnchoringSettings {
  /** JSON-RPC endpoint of the EVM chain; unset: the local dev chain when `devChain`, else anchoring is off. */
  rpcUrl: string | undefined;
  /** EIP-155 chain id the node must report; unset: whatever it reports. */
  chainId: number | undefined;
  /** 0x-hex secp256k1 key of the sender; unset: a generated key sealed in the database. */
  senderKey: string | undefined;
  /** Without rpcUrl, start an anvil dev chain on loopback when anvil is installed. */
  devChain: boolean;
  /** Where the dev chain keeps its state across restarts: beside the embedded database (the two belong together); unset with DATABASE_URL (a chain in memory). */
  devChainStateFile: string | undefined;
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
  /** How often confirmed batches are checked to still be on the chain (besides at start). */
  chainCheckMs: number;
}

/** The dev chain's state file on the embedded default, beside the embedded database. */
export const devChainStateFile = (config: Pick<Config, "databaseUrl" | "dataDir">): string | undefined => (config.databaseUrl ? undefined : path.join(config.dataDir, "devchain", "state.json"));

/** The anchoring module's settings (ATTESTO_ANCHOR_* variables). */
export function anchoringSettings(config: Config): AnchoringSettings {
  return {
    rpcUrl: config.anchorRpcUrl,
    chainId: config.anchorChainId,
    senderKey: config.anchorPrivateKey,
    devChain: config.anchorDevChain,
    devChainStateFile: devChainStateFile(config),
    intervalMs: config.anchorIntervalMs,
    pollMs: config.anchorPollMs,
    finality: config.anchorFinality,
    confirmations: config.anchorConfirmations,
    orphanWindowMs: config.anchorOrphanWindowMs,
    replaceAfterMs: config.anchorReplaceAfterMs,
    maxMembers: config.anchorMaxMembers,
    rpcTimeoutMs: config.anchorRpcTimeoutMs,
    chainCheckMs: config.anchorChainCheckMs,
  };
}
