import { sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import type { Logger } from "../logger.js";
import type { Proofstreams } from "../proofstream/module.js";
import { verifyConsistency } from "../verify/merkle.js";
import { anchoredHeads, storeBatch, type BatchCandidate } from "./batch-rows.js";

/** Streams read per page of the latest-checkpoint scan. */
const SCAN_PAGE = 5_000;

/** Serializes batch building across instances (a tick that overruns the interval must not overlap the next). */
const BATCH_LOCK = sql`pg_try_advisory_xact_lock(hashtext('attesto.anchor.batch'))`;

/**
 * The batch builder's tick: takes the newest signed checkpoint of every stream
 * (all tenants) that grew since its last anchored checkpoint, with the
 * consistency proof from that one, and stores them as one pending batch.
 * A stream whose history contradicts a root a confirmed batch anchored is
 * recorded as fork evidence (source `anchor`) and left out.
 */
export async function buildNextBatch(
  deps: { db: Db; proofstreams: Proofstreams; logger: Logger },
  settings: { chainId: number; maxMembers: number },
): Promise<{ id: string; members: number } | undefined> {
  const { db, proofstreams, logger } = deps;
  return db.transaction(async (tx) => {
    const [lock] = await tx.execute<{ locked: boolean }>(sql`SELECT ${BATCH_LOCK} AS locked`);
    if (!lock?.locked) return undefined;
    const heads = await anchoredHeads(tx);
    const candidates: BatchCandidate[] = [];
    let after = "";
    scan: for (;;) {
      const page = await proofstreams.latestCheckpoints(after, SCAN_PAGE);
      for (const latest of page) {
        const head = heads.get(latest.streamId);
        if (head && head.treeSize >= latest.treeSize) continue;
        let consistencyProof: Buffer[] = [];
        if (head) {
          const proof = await proofstreams.consistencyProof(latest.tenantId, latest.streamId, head.treeSize, latest.treeSize);
          consistencyProof = proof.hashes;
          if (!verifyConsistency(head.treeSize, latest.treeSize, consistencyProof, head.rootHash, latest.rootHash)) {
            logger.error({ streamId: latest.streamId, anchoredSize: head.treeSize, treeSize: latest.treeSize }, "history contradicts an anchored checkpoint: the stream is left out of anchoring");
            if (head.status === "confirmed") {
              await proofstreams.recordAnchorContradiction({
                streamId: latest.streamId,
                anchored: { treeSize: head.treeSize, rootHash: head.rootHash, note: head.note, batchId: head.batchId, txHash: head.txHash ?? "" },
                current: { treeSize: latest.treeSize, rootHash: latest.rootHash, note: latest.note },
                proof: consistencyProof,
                failure: `no consistency proof from the anchored root at ${head.treeSize} to the checkpoint at ${latest.treeSize}`,
              });
            }
            continue;
          }
        }
        candidates.push({ ...latest, previousTreeSize: head?.treeSize ?? 0, consistencyProof });
        if (candidates.length >= settings.maxMembers) break scan;
      }
      if (page.length < SCAN_PAGE) break;
      after = page[page.length - 1]!.streamId;
    }
    if (candidates.length === 0) return undefined;
    const batch = await storeBatch(tx, settings.chainId, candidates);
    logger.info({ batchId: batch.id, members: candidates.length }, "anchor batch built");
    return { id: batch.id, members: candidates.length };
  });
}
