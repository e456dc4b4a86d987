import { sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { newId } from "../ids.js";
import { buildBatchTree, joinHashes } from "./batch-tree.js";
import { anchorBatches, anchorMembers } from "./schema.js";

/** One checkpoint going into a batch, with its consistency proof from the stream's previous anchor. */
export interface BatchCandidate {
  tenantId: string;
  streamId: string;
  treeSize: number;
  rootHash: Buffer;
  note: string;
  previousTreeSize: number;
  consistencyProof: Buffer[];
}

/** Rows per INSERT (10 parameters a row, under Postgres's 65,535). */
const ROWS_PER_INSERT = 5_000;

/**
 * Builds the batch tree over the candidates' signed notes and stores the
 * batch (`pending`) with each member's leaf index and audit path, in the
 * caller's transaction. Returns the batch id and root.
 */
export async function storeBatch(tx: Db, chainId: number, candidates: readonly BatchCandidate[]): Promise<{ id: string; root: Buffer }> {
  const tree = buildBatchTree(candidates.map((c) => Buffer.from(c.note, "utf8")));
  const id = newId("bat");
  await tx.insert(anchorBatches).values({ id, chainId, root: tree.root, memberCount: candidates.length });
  for (let at = 0; at < candidates.length; at += ROWS_PER_INSERT) {
    await tx.insert(anchorMembers).values(
      candidates.slice(at, at + ROWS_PER_INSERT).map((c, i) => ({
        batchId: id,
        leafIndex: at + i,
        tenantId: c.tenantId,
        streamId: c.streamId,
        treeSize: c.treeSize,
        rootHash: c.rootHash,
        note: c.note,
        auditPath: joinHashes(tree.paths[at + i]!),
        previousTreeSize: c.previousTreeSize,
        consistencyProof: joinHashes(c.consistencyProof),
      })),
    );
  }
  return { id, root: tree.root };
}

/** A stream's newest checkpoint in a batch that has not failed: what the next anchor must extend. */
export interface AnchoredHead {
  treeSize: number;
  rootHash: Buffer;
  note: string;
  batchId: string;
  txHash: string | null;
  status: "pending" | "submitted" | "confirmed";
}

/** Every stream's anchored head (batches not failed). */
export async function anchoredHeads(tx: Db): Promise<Map<string, AnchoredHead>> {
  const rows = await tx.execute<{ stream_id: string; tree_size: string; root_hash: Buffer; note: string; batch_id: string; tx_hash: string | null; status: AnchoredHead["status"] }>(sql`
    SELECT DISTINCT ON (m.stream_id) m.stream_id, m.tree_size, m.root_hash, m.note, m.batch_id, b.tx_hash, b.status
    FROM ${anchorMembers} m JOIN ${anchorBatches} b ON b.id = m.batch_id
    WHERE b.status <> 'failed'
    ORDER BY m.stream_id, m.tree_size DESC`);
  const heads = new Map<string, AnchoredHead>();
  for (const r of rows) {
    heads.set(r.stream_id, { treeSize: Number(r.tree_size), rootHash: r.root_hash, note: r.note, batchId: r.batch_id, txHash: r.tx_hash, status: r.status });
  }
  return heads;
}
