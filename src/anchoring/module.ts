import type { PrivateKeyAccount } from "viem";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import type { PageRequest } from "../db/pagination.js";
import { AppError } from "../errors.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import type { Proofstreams } from "../proofstream/module.js";
import type { AnchorReceipt } from "../verify/bundle.js";
import type { WebhookEmitter } from "../webhooks/module.js";
import { buildNextBatch } from "./batch-builder.js";
import { Chain } from "./chain.js";
import { ChainWriter } from "./chain-writer.js";
import { failLostBatches } from "./chain-check.js";
import { anvilBinary, attachDevChain, startDevChain, type DevChain } from "./devchain.js";
import { confirmedReceiptsOf, getBatch, getReceipt, listBatches, listBatchMembers, type BatchStatus, type BatchView, type MemberView, type ReceiptView } from "./reads.js";
import { senderAccount } from "./sender.js";
import { ConfirmationTracker } from "./tracker.js";
import type { AnchoringSettings } from "./settings.js";

/** Where this module keeps values sealed with the keyring (`attesto reseal`). */
export { sealedColumns } from "./sealed.js";
export { anvilBinary, startDevChain, type DevChain } from "./devchain.js";
export type { BatchStatus, BatchView, MemberView, ReceiptView } from "./reads.js";

export interface AnchoringDeps {
  db: Db;
  keyring: Keyring;
  jobs: JobRuntime;
  logger: Logger;
  events: WebhookEmitter;
  proofstreams: Proofstreams;
}

/** The anchoring module's periodic jobs: batching, confirmation tracking, the chain check. */
const ANCHOR_JOBS = ["anchor.batch", "anchor.track", "anchor.chain-check"] as const;

/** What is running once `start()` found a chain. */
interface Running {
  chain: Chain;
  account: PrivateKeyAccount;
  writer: ChainWriter;
  tracker: ConfirmationTracker;
  rule: "finalized" | "confirmations";
}

/**
 * Anchoring of checkpoints on an EVM chain: the batch builder (one run per
 * interval across instances), the chain writer and the confirmation
 * tracker, and the tenant's reads (batches, members, receipts). Without a
 * chain, `start()` logs once that anchoring is off and the reads answer
 * from what is stored.
 */
export class Anchoring {
  #running: Running | undefined;
  #devChain: DevChain | undefined;
  #starting: Promise<void> | undefined;

  constructor(
    private readonly deps: AnchoringDeps,
    private readonly settings: AnchoringSettings,
  ) {}

  /** Whether a chain is attached (batches are built and sent). */
  get enabled(): boolean {
    return this.#running !== undefined;
  }

  /** The chain and sender in use, when enabled. */
  get chain(): { rpcUrl: string; chainId: number; sender: string; rule: "finalized" | "confirmations" } | undefined {
    const r = this.#running;
    return r && { rpcUrl: r.chain.rpcUrl, chainId: r.chain.chainId, sender: r.account.address, rule: r.rule };
  }

  /**
   * Attaches the configured chain, or starts the dev chain in the
   * background (serving does not wait for it: `ready()` does), or logs once
   * that anchoring is off.
   */
  async start(): Promise<void> {
    const { logger, jobs } = this.deps;
    const s = this.settings;
    if (s.rpcUrl) return this.#attach(s.rpcUrl);
    if (s.devChain && jobs.processes && (s.devChainUrl || anvilBinary())) {
      // Registered once the chain is attached; until then a tick left due by an earlier run is skipped quietly.
      jobs.later(ANCHOR_JOBS);
      this.#starting = (async () => {
        this.#devChain = s.devChainUrl ? attachDevChain(s.devChainUrl) : await startDevChain({ stateFile: s.devChainStateFile });
        logger.info({ rpcUrl: this.#devChain.url, stateFile: s.devChainStateFile }, "anchoring on a local anvil dev chain (development only)");
        await this.#attach(this.#devChain.url);
      })().catch((err: Error) => logger.warn({ err: err.message }, "anchoring is off: the dev chain did not start"));
      return;
    }
    logger.info("anchoring is off: no chain configured (set ATTESTO_ANCHOR_RPC_URL)");
  }

  /** Resolves once a chain started in the background is attached (or failed to). */
  async ready(): Promise<void> {
    await this.#starting;
  }

  async #attach(rpcUrl: string): Promise<void> {
    const { logger, jobs, db, keyring } = this.deps;
    const s = this.settings;
    const probe = new Chain(rpcUrl, s.chainId ?? 0, s.rpcTimeoutMs);
    let nodeChainId: number;
    try {
      nodeChainId = await probe.nodeChainId();
    } catch (err) {
      logger.warn({ rpcUrl: redactUrl(rpcUrl), err: (err as Error).message }, "anchoring is off: the chain does not answer");
      return;
    }
    if (s.chainId !== undefined && s.chainId !== nodeChainId) {
      throw new Error(`ATTESTO_ANCHOR_CHAIN_ID is ${s.chainId} but the node at ATTESTO_ANCHOR_RPC_URL is on chain ${nodeChainId}`);
    }
    const chain = new Chain(rpcUrl, nodeChainId, s.rpcTimeoutMs);
    const account = await senderAccount(db, keyring, s.senderKey);
    if (this.#devChain) await this.#devChain.fund(account.address);
    const rule = s.finality === "auto" ? ((await chain.finalizedBlock()) !== undefined ? "finalized" : "confirmations") : s.finality;
    const writer = new ChainWriter({ db, chain, account, logger });
    const tracker = new ConfirmationTracker(
      { db, chain, writer, events: this.deps.events, logger },
      { rule, confirmations: s.confirmations, orphanWindowMs: s.orphanWindowMs, replaceAfterMs: s.replaceAfterMs },
    );
    this.#running = { chain, account, writer, tracker, rule };
    logger.info({ chainId: nodeChainId, sender: account.address, rule, confirmations: rule === "confirmations" ? s.confirmations : undefined }, "anchoring on");
    // Before any new batch: confirmed batches the chain no longer holds fail now, so the first batch re-anchors them.
    await this.checkChainNow().catch((err: Error) => logger.warn({ err: err.message }, "anchor chain check failed: retried on its interval"));
    const [batch, track, chainCheck] = ANCHOR_JOBS;
    await jobs.every(batch, s.intervalMs, () => this.anchorNow());
    await jobs.every(track, s.pollMs, () => this.trackNow());
    await jobs.every(chainCheck, s.chainCheckMs, () => this.checkChainNow());
  }

  async close(): Promise<void> {
    await this.#starting;
    await this.#devChain?.stop();
  }

  /** The batch builder's tick: builds a batch of grown streams' checkpoints and sends the oldest pending batch. */
  async anchorNow(): Promise<{ id: string; members: number } | undefined> {
    const r = this.#requireRunning();
    const built = await buildNextBatch({ db: this.deps.db, proofstreams: this.deps.proofstreams, logger: this.deps.logger }, { chainId: r.chain.chainId, maxMembers: this.settings.maxMembers });
    await r.writer.submitNext();
    return built;
  }

  /** The chain check's tick: fails confirmed batches the chain no longer holds (`chain_lost`), whose checkpoints the next batch anchors again. */
  async checkChainNow(): Promise<string[]> {
    const r = this.#requireRunning();
    return failLostBatches({ db: this.deps.db, chain: r.chain, events: this.deps.events, logger: this.deps.logger });
  }

  /** The tracker's tick: moves the batch in flight on, then sends the next pending one if it is done. */
  async trackNow(): Promise<void> {
    const r = this.#requireRunning();
    await r.tracker.track();
    await r.writer.submitNext();
  }

  async listBatches(tenantId: string, filter: PageRequest & { status?: BatchStatus; streamId?: string }): Promise<{ batches: BatchView[]; nextPageToken: string }> {
    if (filter.streamId) await this.#streamOf(tenantId, filter.streamId);
    return listBatches(this.deps.db, tenantId, filter);
  }

  getBatch(tenantId: string, batchId: string): Promise<BatchView> {
    return getBatch(this.deps.db, tenantId, batchId);
  }

  listBatchMembers(tenantId: string, batchId: string, page: PageRequest): Promise<{ members: MemberView[]; nextPageToken: string }> {
    return listBatchMembers(this.deps.db, tenantId, batchId, page);
  }

  async getReceipt(tenantId: string, streamId: string, treeSize: number): Promise<ReceiptView> {
    await this.#streamOf(tenantId, streamId);
    return getReceipt(this.deps.db, tenantId, streamId, treeSize);
  }

  /** Receipts of a checkpoint in the bundle format (confirmed batches only). */
  async bundleReceipts(streamId: string, treeSize: number): Promise<AnchorReceipt[]> {
    return (await confirmedReceiptsOf(this.deps.db, streamId, treeSize)).map(toBundleReceipt);
  }

  async #streamOf(tenantId: string, streamId: string): Promise<void> {
    try {
      await this.deps.proofstreams.getStream(tenantId, streamId);
    } catch (err) {
      if (err instanceof AppError && err.code === "not_found") throw new AppError("not_found", "stream not found", { reason: "RESOURCE_NOT_FOUND" });
      throw err;
    }
  }

  #requireRunning(): Running {
    if (!this.#running) throw new AppError("failed_precondition", "anchoring is off: no chain configured", { reason: "ANCHORING_OFF" });
    return this.#running;
  }
}

/** A receipt as bundles and the verification library carry it. */
export function toBundleReceipt(r: ReceiptView): AnchorReceipt {
  return {
    chain_id: r.batch.chainId,
    tx_hash: r.batch.txHash!,
    block_number: r.batch.blockNumber!,
    block_hash: r.batch.blockHash!,
    batch_root: `0x${r.batch.root.toString("hex")}`,
    leaf_index: r.leafIndex,
    batch_size: r.batch.memberCount,
    path: r.auditPath.map((h) => h.toString("hex")),
  };
}

/** An RPC URL may carry an API key in its path or query: log its origin only. */
function redactUrl(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(unparsable URL)";
  }
}
