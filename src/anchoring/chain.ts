import { createPublicClient, http, keccak256, type Hex, type PublicClient, type PrivateKeyAccount, TransactionReceiptNotFoundError, TransactionNotFoundError, BlockNotFoundError } from "viem";
import type { Fees } from "./fees.js";

/** One mined transaction as the tracker needs it. */
export interface MinedAt {
  blockNumber: number;
  blockHash: string;
}

export type BroadcastOutcome = "sent" | "nonce_too_low";

/**
 * The chain writer's view of the EVM chain, through viem over JSON-RPC: the
 * node is asked, never trusted to keep state for us (nonces, fees and the
 * signed bytes live in Postgres).
 */
export class Chain {
  readonly client: PublicClient;

  constructor(
    readonly rpcUrl: string,
    readonly chainId: number,
    timeoutMs = 10_000,
  ) {
    this.client = createPublicClient({ transport: http(rpcUrl, { timeout: timeoutMs, retryCount: 0 }) });
  }

  /** The node's chain id (a start-up check against the configured one). */
  async nodeChainId(): Promise<number> {
    return this.client.getChainId();
  }

  /** Mined transactions of the sender: the nonce its next transaction takes. */
  async nextNonce(address: Hex): Promise<number> {
    return this.client.getTransactionCount({ address, blockTag: "latest" });
  }

  async estimateFees(): Promise<Fees> {
    const { maxFeePerGas, maxPriorityFeePerGas } = await this.client.estimateFeesPerGas({ chain: null, type: "eip1559" });
    return { maxFeePerGas, maxPriorityFeePerGas };
  }

  /** Signs the anchor transaction: a 0-value transfer to the sender itself whose data is tag || root. */
  async sign(account: PrivateKeyAccount, input: { nonce: number; data: Hex; fees: Fees }): Promise<{ raw: Hex; hash: Hex }> {
    const gas = await this.client.estimateGas({ account: account.address, to: account.address, data: input.data, value: 0n });
    const raw = await account.signTransaction({
      type: "eip1559",
      chainId: this.chainId,
      nonce: input.nonce,
      to: account.address,
      value: 0n,
      data: input.data,
      gas,
      maxFeePerGas: input.fees.maxFeePerGas,
      maxPriorityFeePerGas: input.fees.maxPriorityFeePerGas,
    });
    return { raw, hash: keccak256(raw) };
  }

  /** Sends signed bytes; a node that already has them (or mined them) is not an error. */
  async broadcast(raw: Hex): Promise<BroadcastOutcome> {
    try {
      await this.client.sendRawTransaction({ serializedTransaction: raw });
      return "sent";
    } catch (err) {
      const text = errorText(err);
      if (/already known|known transaction|already imported|already exists/i.test(text)) return "sent";
      if (/nonce too low|nonce is too low|nonce has already been used/i.test(text)) return "nonce_too_low";
      throw err;
    }
  }

  /** Where the transaction is mined on the node's canonical chain, if it is. */
  async minedAt(hash: Hex): Promise<MinedAt | undefined> {
    let receipt;
    try {
      receipt = await this.client.getTransactionReceipt({ hash });
    } catch (err) {
      if (err instanceof TransactionReceiptNotFoundError || err instanceof TransactionNotFoundError) return undefined;
      throw err;
    }
    if (receipt.status !== "success") return undefined;
    // A node may still answer a receipt from a block a reorg replaced: ask for the canonical block at that height.
    const block = await this.client.getBlock({ blockNumber: receipt.blockNumber });
    if (block.hash !== receipt.blockHash) return undefined;
    return { blockNumber: Number(receipt.blockNumber), blockHash: receipt.blockHash };
  }

  /** The hash of the canonical block at that height; undefined when the chain has no such block (yet). */
  async blockHashAt(blockNumber: number): Promise<string | undefined> {
    try {
      const block = await this.client.getBlock({ blockNumber: BigInt(blockNumber) });
      return block.hash ?? undefined;
    } catch (err) {
      if (err instanceof BlockNotFoundError) return undefined;
      throw err;
    }
  }

  async blockTime(blockNumber: number): Promise<Date> {
    const block = await this.client.getBlock({ blockNumber: BigInt(blockNumber) });
    return new Date(Number(block.timestamp) * 1000);
  }

  async latestBlock(): Promise<number> {
    return Number(await this.client.getBlockNumber({ cacheTime: 0 }));
  }

  /** The node's finalized block number; undefined when the chain (or node) has no finality tag. */
  async finalizedBlock(): Promise<number | undefined> {
    try {
      const block = await this.client.getBlock({ blockTag: "finalized" });
      return block.number === null ? undefined : Number(block.number);
    } catch (err) {
      if (err instanceof BlockNotFoundError) return undefined;
      if (/finalized|invalid block tag|unknown block|not supported/i.test(errorText(err))) return undefined;
      throw err;
    }
  }
}

function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error && parts.length < 6; e = e.cause) parts.push(e.message, (e as { details?: string }).details ?? "");
  return parts.join(" ");
}
