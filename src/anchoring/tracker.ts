import { and, asc, eq, lt, sql } from "drizzle-orm";
import type { Hex } from "viem";
import type { Db } from "../db/db.js";
import type { Logger } from "../logger.js";
import { rfc3339, type CheckpointRef } from "../webhooks/event-types.js";
import type { WebhookEmitter } from "../webhooks/module.js";
import type { Chain, MinedAt } from "./chain.js";
import type { BatchRow, ChainWriter } from "./chain-writer.js";
import { nextStep, type ConfirmationPolicy } from "./confirmation.js";
import { anchorBatches, anchorMembers } from "./schema.js";

/** Checkpoints listed in one batch.confirmed / batch.failed delivery: larger tenants get several deliveries. */
export const CHECKPOINTS_PER_EVENT = 1_000;

/**
 * The confirmation tracker's round over the batch in flight: asks the chain
 * where its transactions are, and confirms, waits, re-broadcasts, replaces
 * or fails it as `nextStep` decides. Confirmation and failure move the
 * batch by compare-and-swap on its status and emit their webhook events in
 * the same transaction.
 */
export class ConfirmationTracker {
  constructor(
    private readonly deps: { db: Db; chain: Chain; writer: ChainWriter; events: WebhookEmitter; logger: Logger },
    private readonly policy: ConfirmationPolicy,
  ) {}

  async track(): Promise<void> {
    const submitted = await this.deps.db.select().from(anchorBatches).where(eq(anchorBatches.status, "submitted")).orderBy(asc(anchorBatches.id));
    for (const batch of submitted) await this.#trackOne(batch);
  }

  async #trackOne(batch: BatchRow): Promise<void> {
    const { chain, writer, logger } = this.deps;
    const txs = await writer.transactionsOf(batch.id);
    let mined: (MinedAt & { txHash: string }) | undefined;
    for (const t of txs) {
      const at = await chain.minedAt(t.txHash as Hex);
      if (at) {
        mined = { ...at, txHash: t.txHash };
        break;
      }
    }
    const latestBlock = await chain.latestBlock();
    const finalizedBlock = this.policy.rule === "finalized" ? await chain.finalizedBlock() : undefined;
    const step = nextStep({ mined, previouslyMined: batch.blockNumber !== null && !mined, latestBlock, finalizedBlock }, this.policy, {
      now: Date.now(),
      submittedAt: batch.submittedAt!.getTime(),
      broadcastAt: batch.broadcastAt!.getTime(),
    });
    // previouslyMined above means "was mined, is not now"; a batch still mined in another block is re-recorded below.
    if (mined && (batch.blockHash !== mined.blockHash || batch.txHash !== mined.txHash)) {
      const blockTime = await chain.blockTime(mined.blockNumber);
      await this.deps.db
        .update(anchorBatches)
        .set({ txHash: mined.txHash, blockNumber: mined.blockNumber, blockHash: mined.blockHash, blockTime })
        .where(and(eq(anchorBatches.id, batch.id), eq(anchorBatches.status, "submitted")));
      Object.assign(batch, { txHash: mined.txHash, blockNumber: mined.blockNumber, blockHash: mined.blockHash, blockTime });
    }
    switch (step.action) {
      case "confirm":
        return this.#confirm(batch, step.rule, step.confirmations);
      case "wait":
        return;
      case "fail":
        return this.#fail(batch, step.reason);
      case "replace":
        return writer.replace(batch);
      case "rebroadcast":
        if (step.reorged) {
          logger.warn({ batchId: batch.id, blockNumber: batch.blockNumber }, "anchor transaction reorged out: broadcasting it again");
          await this.deps.db
            .update(anchorBatches)
            .set({ blockNumber: null, blockHash: null, blockTime: null, broadcastAt: sql`now()` })
            .where(and(eq(anchorBatches.id, batch.id), eq(anchorBatches.status, "submitted")));
        }
        return writer.rebroadcast(batch);
    }
  }

  async #confirm(batch: BatchRow, rule: "finalized" | "confirmations", confirmations: number): Promise<void> {
    const { db, events } = this.deps;
    const done = await db.transaction(async (tx) => {
      const [row] = await tx
        .update(anchorBatches)
        .set({ status: "confirmed", confirmationRule: rule, confirmations, confirmedAt: sql`now()` })
        .where(and(eq(anchorBatches.id, batch.id), eq(anchorBatches.status, "submitted")))
        .returning();
      if (!row) return false;
      const members = await membersOf(tx, batch.id);
      const base = {
        batch_id: row.id,
        chain_id: row.chainId,
        tx_hash: row.txHash!,
        block_number: row.blockNumber!,
        block_hash: row.blockHash!,
        root: `0x${row.root.toString("hex")}`,
        confirmed_at: rfc3339(row.confirmedAt!),
      };
      for (const [tenantId, refs] of byTenant(members)) {
        for (let at = 0; at < refs.length; at += CHECKPOINTS_PER_EVENT) {
          await events.emit(tx, tenantId, "batch.confirmed", { ...base, checkpoints: refs.slice(at, at + CHECKPOINTS_PER_EVENT) });
        }
      }
      // event.anchored: one delivery per stream and subscription, naming the seq_no range this batch newly covers.
      const previous = await previousConfirmedSizes(tx, batch.id);
      // emit answers how many subscriptions took the event: a tenant with none is asked once, not once per stream.
      const unsubscribed = new Set<string>();
      for (const m of members) {
        const from = (previous.get(m.streamId) ?? 0) + 1;
        if (from > m.treeSize || unsubscribed.has(m.tenantId)) continue;
        const taken = await events.emit(tx, m.tenantId, "event.anchored", {
          stream_id: m.streamId,
          from_seq_no: from,
          to_seq_no: m.treeSize,
          checkpoint_size: m.treeSize,
          batch_id: row.id,
          chain_id: row.chainId,
          tx_hash: row.txHash!,
          block_number: row.blockNumber!,
        });
        if (taken === 0) unsubscribed.add(m.tenantId);
      }
      return true;
    });
    if (done) {
      events.committed();
      this.deps.logger.info({ batchId: batch.id, txHash: batch.txHash, blockNumber: batch.blockNumber, rule, confirmations }, "anchor batch confirmed");
    }
  }

  async #fail(batch: BatchRow, reason: "orphan_window" | "reorged"): Promise<void> {
    const { db, events } = this.deps;
    const done = await db.transaction(async (tx) => {
      const [row] = await tx
        .update(anchorBatches)
        .set({ status: "failed", failureReason: reason, failedAt: sql`now()` })
        .where(and(eq(anchorBatches.id, batch.id), eq(anchorBatches.status, "submitted")))
        .returning();
      if (!row) return false;
      for (const [tenantId, refs] of byTenant(await membersOf(tx, batch.id))) {
        for (let at = 0; at < refs.length; at += CHECKPOINTS_PER_EVENT) {
          await events.emit(tx, tenantId, "batch.failed", {
            batch_id: row.id,
            chain_id: row.chainId,
            tx_hash: row.txHash ?? "",
            reason,
            checkpoints: refs.slice(at, at + CHECKPOINTS_PER_EVENT),
            failed_at: rfc3339(row.failedAt!),
          });
        }
      }
      return true;
    });
    if (done) {
      events.committed();
      this.deps.logger.warn({ batchId: batch.id, reason }, "anchor batch failed: its checkpoints go into the next batch");
    }
  }
}

export const membersOf = (tx: Db, batchId: string) =>
  tx
    .select({ tenantId: anchorMembers.tenantId, streamId: anchorMembers.streamId, treeSize: anchorMembers.treeSize })
    .from(anchorMembers)
    .where(eq(anchorMembers.batchId, batchId))
    .orderBy(asc(anchorMembers.leafIndex));

export function byTenant(members: ReadonlyArray<{ tenantId: string; streamId: string; treeSize: number }>): Map<string, CheckpointRef[]> {
  const out = new Map<string, CheckpointRef[]>();
  for (const m of members) {
    let refs = out.get(m.tenantId);
    if (!refs) out.set(m.tenantId, (refs = []));
    refs.push({ stream_id: m.streamId, tree_size: m.treeSize });
  }
  return out;
}

/** For each stream of the batch, the largest checkpoint an earlier confirmed batch anchored. */
async function previousConfirmedSizes(tx: Db, batchId: string): Promise<Map<string, number>> {
  const rows = await tx
    .select({ streamId: anchorMembers.streamId, size: sql<string>`max(${anchorMembers.treeSize})` })
    .from(anchorMembers)
    .innerJoin(anchorBatches, eq(anchorBatches.id, anchorMembers.batchId))
    .where(and(eq(anchorBatches.status, "confirmed"), lt(anchorBatches.id, batchId), sql`${anchorMembers.streamId} IN (SELECT stream_id FROM ${anchorMembers} WHERE batch_id = ${batchId})`))
    .groupBy(anchorMembers.streamId);
  return new Map(rows.map((r) => [r.streamId, Number(r.size)]));
}
