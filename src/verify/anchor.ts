import type { AnchorReceipt } from "./bundle.js";
import { fromHex, toHex, utf8 } from "./bytes.js";
import { leafHash, ProofError, rootFromInclusionProof } from "./merkle.js";
import { logSignedNote, parseCheckpoint, splitNote } from "./note.js";

/**
 * The 4 bytes that open every anchor transaction's data, before the 32-byte
 * batch root: "ATST". A verifier checks the data is exactly tag || root.
 */
export const ANCHOR_TAG = "0x41545354";

/** The transaction data that anchors a batch root. */
export const anchorCalldata = (root: Uint8Array): `0x${string}` => `${ANCHOR_TAG}${toHex(root)}`;

/**
 * What the check needs of a chain client: a subset of viem's PublicClient,
 * so `createPublicClient({ transport: http(url) })` can be passed as is.
 */
export interface AnchorChainReader {
  getChainId(): Promise<number>;
  getTransaction(args: { hash: `0x${string}` }): Promise<{ input: `0x${string}`; blockNumber: bigint | null; blockHash: `0x${string}` | null }>;
  getTransactionReceipt(args: { hash: `0x${string}` }): Promise<{ status: "success" | "reverted"; blockNumber: bigint; blockHash: `0x${string}` }>;
  getBlock(args: { blockNumber: bigint }): Promise<{ hash: `0x${string}` | null; timestamp: bigint }>;
  getBlockNumber(): Promise<bigint>;
}

export interface AnchorCheck {
  valid: boolean;
  /** Blocks from the receipt's block to the chain head, inclusive (0 when invalid). */
  confirmations: number;
  /** What failed, in order; empty when valid. */
  problems: string[];
}

/** What an anchor committed to: the note as its log signed it (witness cosignatures join later and are left out). */
function anchoredBytes(note: string): string {
  try {
    return logSignedNote(note, parseCheckpoint(splitNote(note).text).origin);
  } catch {
    return note;
  }
}

/**
 * Checks an anchor receipt for a signed checkpoint note against a chain:
 * the note's audit path leads to the batch root; the transaction's data is
 * the anchor tag followed by that root; it succeeded in the block the
 * receipt names, and that block is still on the node's canonical chain.
 */
export async function verifyAnchorReceipt(note: string, receipt: AnchorReceipt, client: AnchorChainReader): Promise<AnchorCheck> {
  const problems: string[] = [];
  const fail = () => ({ valid: false, confirmations: 0, problems });
  try {
    const root = rootFromInclusionProof(
      receipt.leaf_index,
      receipt.batch_size,
      leafHash(utf8(anchoredBytes(note))),
      receipt.path.map((h) => fromHex(h) ?? new Uint8Array()),
    );
    if (`0x${toHex(root)}` !== receipt.batch_root.toLowerCase()) problems.push(`the audit path leads to 0x${toHex(root)}, not the batch root ${receipt.batch_root}`);
  } catch (err) {
    if (!(err instanceof ProofError)) throw err;
    problems.push(`audit path: ${err.message}`);
  }
  if (problems.length) return fail();

  const chainId = await client.getChainId();
  if (chainId !== receipt.chain_id) return (problems.push(`the client is on chain ${chainId}, the receipt names chain ${receipt.chain_id}`), fail());
  const hash = receipt.tx_hash as `0x${string}`;
  let tx, mined;
  try {
    [tx, mined] = await Promise.all([client.getTransaction({ hash }), client.getTransactionReceipt({ hash })]);
  } catch {
    return (problems.push(`transaction ${receipt.tx_hash} is not mined on chain ${receipt.chain_id}`), fail());
  }
  const expected = `${ANCHOR_TAG}${receipt.batch_root.replace(/^0x/, "").toLowerCase()}`;
  if (tx.input.toLowerCase() !== expected) problems.push(`the transaction's data is not the anchor tag followed by the batch root`);
  if (mined.status !== "success") problems.push("the transaction reverted");
  if (Number(mined.blockNumber) !== receipt.block_number || mined.blockHash.toLowerCase() !== receipt.block_hash.toLowerCase()) {
    problems.push(`the transaction is in block ${mined.blockNumber} (${mined.blockHash}), the receipt says ${receipt.block_number} (${receipt.block_hash})`);
  }
  const block = await client.getBlock({ blockNumber: BigInt(receipt.block_number) });
  if (block.hash?.toLowerCase() !== receipt.block_hash.toLowerCase()) problems.push(`block ${receipt.block_number} on the chain is ${block.hash}, not ${receipt.block_hash}`);
  if (problems.length) return fail();
  const head = await client.getBlockNumber();
  return { valid: true, confirmations: Number(head) - receipt.block_number + 1, problems };
}
