import type { Db } from "../db/db.js";
import type { LeafCache } from "./leaf-cache.js";
import { TLOG_PROOF_FORMAT } from "../verify/tlog-proof.js";
import type { InclusionProofResult } from "./proofs.js";
import type { CheckpointRecord } from "./checkpoints.js";
import type { EventRecord } from "./event-record.js";
import { leafBytes } from "./leaf.js";
import { inclusionRanges } from "./merkle/ranges.js";
import type { TileCache } from "./tile-cache.js";

/**
 * The C2SP tlog-proof (c2sp.org/tlog-proof@v1) of an inclusion proof: one
 * event's evidence as one small text file. `extra` carries the leaf bytes so
 * that a verifier recomputes the record hash; the index is seq_no - 1.
 */
export async function tlogProofOf(db: Db, leaves: LeafCache, streamId: string, proof: InclusionProofResult): Promise<string> {
  return tlogProofText(await proofLeafOf(db, leaves, streamId, proof), proof);
}

/** The leaf bytes an inclusion proof is about (its hash is the proof's leaf hash), from the leaf cache. */
export function proofLeafOf(db: Db, leaves: LeafCache, streamId: string, proof: InclusionProofResult): Promise<Uint8Array> {
  return leaves.leaf(db, streamId, proof.leafIndex + 1, proof.treeSize);
}

/**
 * The tlog-proof of an event just committed against a checkpoint that covers
 * it: the leaf rebuilt from the event's fields (no read), the path from the
 * tile cache.
 */
export async function receiptProof(db: Db, tileCache: TileCache, event: EventRecord, checkpoint: CheckpointRecord): Promise<string> {
  const leafIndex = event.seqNo - 1;
  const { hashes } = await tileCache.proof(db, event.streamId, checkpoint.treeSize, inclusionRanges(leafIndex, checkpoint.treeSize));
  return tlogProofText(leafBytes(event), { leafIndex, hashes, checkpoint });
}

/**
 * formatTlogProof (src/verify/tlog-proof.ts) with the extra line, byte for
 * byte, built with Node's base64 instead of the verification library's
 * portable btoa: this runs on every GetInclusionProof and receipt.
 */
export function tlogProofText(leaf: Uint8Array, proof: Pick<InclusionProofResult, "leafIndex" | "hashes" | "checkpoint">): string {
  let text = `${TLOG_PROOF_FORMAT}\nextra ${Buffer.from(leaf.buffer, leaf.byteOffset, leaf.byteLength).toString("base64")}\nindex ${proof.leafIndex}\n`;
  for (const h of proof.hashes) text += `${h.toString("base64")}\n`;
  return `${text}\n${proof.checkpoint.note}`;
}
