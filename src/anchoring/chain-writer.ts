import { and, asc, eq, sql } from "drizzle-orm";
import type { Hex, PrivateKeyAccount } from "viem";
import type { Db } from "../db/db.js";
import type { Logger } from "../logger.js";
import { anchorCalldata } from "../verify/anchor.js";
import type { Chain } from "./chain.js";
import { bumpedFees, feesFor, type Fees } from "./fees.js";
import { anchorBatches, anchorTransactions } from "./schema.js";

export type BatchRow = typeof anchorBatches.$inferSelect;
type TxRow = typeof anchorTransactions.$inferSelect;

const feesOf = (row: Pick<TxRow, "maxFeePerGas" | "maxPriorityFeePerGas">): Fees => ({ maxFeePerGas: BigInt(row.maxFeePerGas), maxPriorityFeePerGas: BigInt(row.maxPriorityFeePerGas) });

/**
 * Writes batch roots on chain, one transaction per batch and one batch in
 * flight at a time (so the nonce is always the sender's next one). Every
 * signed transaction and its hash are stored before they are broadcast:
 * what counts as sent is the row, so a crash after signing re-sends the same
 * bytes (never a second transaction), and one before signing signs again.
 */
export class ChainWriter {
  constructor(private readonly deps: { db: Db; chain: Chain; account: PrivateKeyAccount; logger: Logger }) {}

  /** Sends the oldest pending batch when no batch is in flight. */
  async submitNext(): Promise<string | undefined> {
    const { db } = this.deps;
    const [inFlight] = await db.select({ id: anchorBatches.id }).from(anchorBatches).where(eq(anchorBatches.status, "submitted")).limit(1);
    if (inFlight) return undefined;
    const [batch] = await db.select().from(anchorBatches).where(eq(anchorBatches.status, "pending")).orderBy(asc(anchorBatches.id)).limit(1);
    if (!batch) return undefined;
    const signed = await this.#signAtNextNonce(batch, undefined);
    const moved = await db.transaction(async (tx) => {
      const rows = await tx
        .update(anchorBatches)
        .set({ status: "submitted", nonce: signed.nonce, txHash: signed.hash, submittedAt: sql`now()`, broadcastAt: sql`now()` })
        .where(and(eq(anchorBatches.id, batch.id), eq(anchorBatches.status, "pending")))
        .returning({ id: anchorBatches.id });
      if (rows.length === 0) return false;
      await tx
        .insert(anchorTransactions)
        .values(signed.row)
        .onConflictDoUpdate({ target: anchorTransactions.txHash, set: { batchId: signed.row.batchId } });
      return true;
    });
    if (!moved) return undefined;
    await this.#broadcast(batch.id, signed.raw);
    this.deps.logger.info({ batchId: batch.id, txHash: signed.hash, nonce: signed.nonce }, "anchor transaction sent");
    return batch.id;
  }

  /** Every transaction signed for a batch, oldest first. */
  transactionsOf(batchId: string): Promise<TxRow[]> {
    return this.deps.db.select().from(anchorTransactions).where(eq(anchorTransactions.batchId, batchId)).orderBy(asc(anchorTransactions.createdAt));
  }

  /** Sends the batch's current transaction again (dropped, or reorged out); one whose nonce was taken is signed again at the next nonce. */
  async rebroadcast(batch: BatchRow): Promise<void> {
    const [current] = await this.deps.db.select().from(anchorTransactions).where(eq(anchorTransactions.txHash, batch.txHash!));
    if (!current) return;
    await this.#broadcast(batch.id, current.rawTx as Hex, batch);
  }

  /** Replaces the batch's transaction with one at the same nonce and higher fees. */
  async replace(batch: BatchRow): Promise<void> {
    const { db, chain, account } = this.deps;
    const [current] = await db.select().from(anchorTransactions).where(eq(anchorTransactions.txHash, batch.txHash!));
    const fees = bumpedFees(feesOf(current!), await chain.estimateFees());
    const { raw, hash } = await chain.sign(account, { nonce: batch.nonce!, data: anchorCalldata(batch.root), fees });
    await this.#record(batch.id, { nonce: batch.nonce!, raw, hash, fees });
    this.deps.logger.info({ batchId: batch.id, txHash: hash, maxFeePerGas: String(fees.maxFeePerGas) }, "anchor transaction replaced with a higher fee");
    await this.#broadcast(batch.id, raw, { ...batch, txHash: hash });
  }

  async #broadcast(batchId: string, raw: Hex, batch?: BatchRow): Promise<void> {
    try {
      const outcome = await this.deps.chain.broadcast(raw);
      if (outcome === "nonce_too_low") {
        const current = batch ?? (await this.deps.db.select().from(anchorBatches).where(eq(anchorBatches.id, batchId)))[0]!;
        // Another transaction of the sender took the nonce (e.g. a failed batch's, mined late): sign again at the next one.
        const mine = await this.transactionsOf(batchId);
        const minedOurs = await Promise.all(mine.map((t) => this.deps.chain.minedAt(t.txHash as Hex)));
        if (minedOurs.some(Boolean)) return;
        const signed = await this.#signAtNextNonce(current, current.nonce ?? undefined);
        await this.#record(batchId, signed);
        await this.deps.chain.broadcast(signed.raw);
      }
    } catch (err) {
      // The row is the truth: the tracker sends the stored bytes again on its next round.
      this.deps.logger.warn({ batchId, err: (err as Error).message }, "anchor broadcast failed; retried by the tracker");
    }
  }

  // The same bytes can be signed twice: a batch re-anchoring a lost one (same root, nonce and fees on a
  // new chain) signs the transaction the lost batch had. The row then moves to the batch that sends it.
  async #record(batchId: string, signed: { nonce: number; raw: Hex; hash: Hex; fees: Fees }): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      await tx.insert(anchorTransactions).values(this.#row(batchId, signed)).onConflictDoUpdate({ target: anchorTransactions.txHash, set: { batchId } });
      await tx
        .update(anchorBatches)
        .set({ txHash: signed.hash, nonce: signed.nonce, broadcastAt: sql`now()` })
        .where(eq(anchorBatches.id, batchId));
    });
  }

  #row(batchId: string, s: { nonce: number; raw: Hex; hash: Hex; fees: Fees }) {
    return {
      txHash: s.hash,
      batchId,
      chainId: this.deps.chain.chainId,
      sender: this.deps.account.address,
      nonce: s.nonce,
      rawTx: s.raw,
      maxFeePerGas: String(s.fees.maxFeePerGas),
      maxPriorityFeePerGas: String(s.fees.maxPriorityFeePerGas),
    };
  }

  /** Signs the batch's transaction at the sender's next nonce, outbidding any transaction of ours already sent at it. */
  async #signAtNextNonce(batch: BatchRow, usedNonce: number | undefined) {
    const { db, chain, account } = this.deps;
    let nonce = await chain.nextNonce(account.address);
    if (usedNonce !== undefined && nonce <= usedNonce) nonce = usedNonce + 1;
    const [sent] = await db
      .select({ maxFeePerGas: anchorTransactions.maxFeePerGas, maxPriorityFeePerGas: anchorTransactions.maxPriorityFeePerGas })
      .from(anchorTransactions)
      .where(and(eq(anchorTransactions.chainId, chain.chainId), eq(anchorTransactions.sender, account.address), eq(anchorTransactions.nonce, nonce)))
      .orderBy(sql`${anchorTransactions.maxFeePerGas}::numeric DESC`)
      .limit(1);
    const fees = feesFor(await chain.estimateFees(), sent ? feesOf(sent) : undefined);
    const { raw, hash } = await chain.sign(account, { nonce, data: anchorCalldata(batch.root), fees });
    const signed = { nonce, raw, hash, fees };
    return { ...signed, row: this.#row(batch.id, signed) };
  }
}
