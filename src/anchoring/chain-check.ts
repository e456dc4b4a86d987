import { and, desc, eq, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import type { Logger } from "../logger.js";
import { rfc3339 } from "../webhooks/event-types.js";
import type { WebhookEmitter } from "../webhooks/module.js";
import type { Chain } from "./chain.js";
import { anchorBatches } from "./schema.js";
import { byTenant, CHECKPOINTS_PER_EVENT, membersOf } from "./tracker.js";

/** Confirmed batches read per step of the walk back. */
const PAGE = 100;

/**
 * Whether the chain still holds the confirmed batches: a batch is held when
 * the node's canonical block at its block number has the hash recorded at
 * confirmation (a block hash commits to its transactions and, through its
 * parents, to every block before it). The walk goes from the newest
 * confirmed batch back and stops at the first one held, so a healthy chain
 * costs one block read. Every batch not held (a dev chain started afresh, a
 * reorg deeper than the confirmation rule) fails with reason `chain_lost`
 * and `batch.failed`; its checkpoints go into the next batch, which
 * anchors them again. Returns the ids of the batches it failed.
 */
export async function failLostBatches(deps: { db: Db; chain: Chain; events: WebhookEmitter; logger: Logger }): Promise<string[]> {
  const { db, chain, logger } = deps;
  const lost: string[] = [];
  const hashes = new Map<number, string | undefined>();
  for (;;) {
    const page = await db
      .select({ id: anchorBatches.id, blockNumber: anchorBatches.blockNumber, blockHash: anchorBatches.blockHash })
      .from(anchorBatches)
      .where(and(eq(anchorBatches.status, "confirmed"), eq(anchorBatches.chainId, chain.chainId)))
      .orderBy(desc(anchorBatches.blockNumber), desc(anchorBatches.id))
      .limit(PAGE);
    if (page.length === 0) break;
    for (const batch of page) {
      if (!hashes.has(batch.blockNumber!)) hashes.set(batch.blockNumber!, await chain.blockHashAt(batch.blockNumber!));
      const onChain = hashes.get(batch.blockNumber!);
      if (onChain !== undefined && onChain.toLowerCase() === batch.blockHash!.toLowerCase()) {
        if (lost.length) logger.warn({ lost: lost.length, heldFrom: batch.id }, "anchor batches no longer on the chain failed: their checkpoints are anchored again");
        return lost;
      }
      if (await failConfirmed(deps, batch.id, onChain)) lost.push(batch.id);
    }
  }
  if (lost.length) logger.warn({ lost: lost.length }, "no confirmed anchor batch is on the chain any more (a new chain?): their checkpoints are anchored again");
  return lost;
}

async function failConfirmed(deps: { db: Db; events: WebhookEmitter; logger: Logger }, batchId: string, onChain: string | undefined): Promise<boolean> {
  const { db, events, logger } = deps;
  const done = await db.transaction(async (tx) => {
    const [row] = await tx
      .update(anchorBatches)
      .set({ status: "failed", failureReason: "chain_lost", failedAt: sql`now()` })
      .where(and(eq(anchorBatches.id, batchId), eq(anchorBatches.status, "confirmed")))
      .returning();
    if (!row) return false;
    for (const [tenantId, refs] of byTenant(await membersOf(tx, batchId))) {
      for (let at = 0; at < refs.length; at += CHECKPOINTS_PER_EVENT) {
        await events.emit(tx, tenantId, "batch.failed", {
          batch_id: row.id,
          chain_id: row.chainId,
          tx_hash: row.txHash ?? "",
          reason: "chain_lost",
          checkpoints: refs.slice(at, at + CHECKPOINTS_PER_EVENT),
          failed_at: rfc3339(row.failedAt!),
        });
      }
    }
    return true;
  });
  if (done) {
    events.committed();
    logger.warn({ batchId, onChain: onChain ?? "no such block" }, "a confirmed anchor batch is no longer on the chain");
  }
  return done;
}
