import type { AnchorReceipt, Check, VerificationReport } from "./bundle.js";
import { fromBase64, fromHex, toHex, utf8 } from "./bytes.js";
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
 * An anchor receipt as `GetAnchorReceipt` answers it in Connect JSON (or as
 * `toJson` of the generated message gives it): camelCase names, `bytes` as
 * base64, 64-bit integers as decimal strings, and zero or empty fields left
 * out (a first leaf has no `leafIndex`, a one-checkpoint batch no
 * `auditPath`). Every field the check needs is optional here for that reason.
 */
export interface RpcAnchorReceipt {
  chainId?: string | number | bigint;
  txHash?: string;
  blockNumber?: string | number | bigint;
  blockHash?: string;
  batchRoot?: string | Uint8Array;
  batchSize?: string | number | bigint;
  leafIndex?: string | number | bigint;
  auditPath?: ReadonlyArray<string | Uint8Array>;
  checkpointNote?: string;
}

/** Thrown when a receipt is neither shape or a field is malformed; names the field. */
export class AnchorReceiptFormatError extends Error {
  override name = "AnchorReceiptFormatError";
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * One receipt shape for the library: a bundle's receipt (snake_case, hex)
 * passes through checked; the RPC's (camelCase, base64, zero fields
 * omitted) is converted to it. Anything else throws naming the field.
 */
export function toAnchorReceipt(input: unknown): AnchorReceipt {
  if (!isRecord(input)) throw new AnchorReceiptFormatError("receipt: must be an object");
  const snake = "tx_hash" in input || "batch_root" in input || "chain_id" in input;
  const get = (snakeName: string, camelName: string) => (snake ? input[snakeName] : input[camelName]);
  const name = (snakeName: string, camelName: string) => (snake ? snakeName : camelName);
  const count = (snakeName: string, camelName: string): number => {
    const v = get(snakeName, camelName) ?? 0;
    const n = typeof v === "bigint" ? Number(v) : typeof v === "string" && /^\d{1,16}$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw new AnchorReceiptFormatError(`${name(snakeName, camelName)}: must be a non-negative integer`);
    return n;
  };
  const hash32 = (snakeName: string, camelName: string, prefixed: boolean): string => {
    const v = get(snakeName, camelName);
    let bytes: Uint8Array | undefined;
    if (v instanceof Uint8Array) bytes = v;
    else if (typeof v === "string" && /^(0x)?[0-9a-fA-F]{64}$/.test(v)) bytes = fromHex(v.replace(/^0x/, ""));
    else if (typeof v === "string" && !snake) bytes = fromBase64(v);
    if (!bytes || bytes.length !== 32) throw new AnchorReceiptFormatError(`${name(snakeName, camelName)}: must be 32 bytes (${snake ? "hex" : "hex or base64"})`);
    return `${prefixed ? "0x" : ""}${toHex(bytes)}`;
  };
  const pathIn = get("path", "auditPath") ?? [];
  if (!Array.isArray(pathIn)) throw new AnchorReceiptFormatError(`${name("path", "auditPath")}: must be a list of hashes`);
  const path = pathIn.map((h: unknown, i: number) => {
    let bytes: Uint8Array | undefined;
    if (h instanceof Uint8Array) bytes = h;
    else if (typeof h === "string" && /^[0-9a-fA-F]{64}$/.test(h)) bytes = fromHex(h);
    else if (typeof h === "string" && !snake) bytes = fromBase64(h);
    if (!bytes || bytes.length !== 32) throw new AnchorReceiptFormatError(`${name("path", "auditPath")}[${i}]: must be 32 bytes`);
    return toHex(bytes);
  });
  return {
    chain_id: count("chain_id", "chainId"),
    tx_hash: hash32("tx_hash", "txHash", true),
    block_number: count("block_number", "blockNumber"),
    block_hash: hash32("block_hash", "blockHash", true),
    batch_root: hash32("batch_root", "batchRoot", true),
    leaf_index: count("leaf_index", "leafIndex"),
    batch_size: count("batch_size", "batchSize"),
    path,
  };
}

/**
 * Checks an anchor receipt for a signed checkpoint note against a chain:
 * the note's audit path leads to the batch root; the transaction's data is
 * the anchor tag followed by that root; it succeeded in the block the
 * receipt names, and that block is still on the node's canonical chain.
 * The receipt may be a bundle's or the RPC's (see `toAnchorReceipt`).
 */
export async function verifyAnchorReceipt(note: string, input: AnchorReceipt | RpcAnchorReceipt, client: AnchorChainReader): Promise<AnchorCheck> {
  const problems: string[] = [];
  const fail = () => ({ valid: false, confirmations: 0, problems });
  let receipt: AnchorReceipt;
  try {
    receipt = toAnchorReceipt(input);
  } catch (err) {
    if (!(err instanceof AnchorReceiptFormatError)) throw err;
    return (problems.push(err.message), fail());
  }
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

/**
 * The bundle's `anchors` check done on chain: every receipt is checked with
 * `verifyAnchorReceipt` against the client's chain, and the report's offline
 * `anchors` check is replaced by the outcome (pass, or fail naming each
 * receipt's problems). A receipt for another chain than the client's fails.
 */
export async function checkAnchorsOnChain(report: VerificationReport, note: string, anchors: readonly AnchorReceipt[], client: AnchorChainReader): Promise<VerificationReport> {
  const at = report.checks.findIndex((c) => c.name === "anchors");
  if (at < 0 || anchors.length === 0 || report.checks[at]!.status === "fail") return report;
  const failures: string[] = [];
  const held: string[] = [];
  for (const [i, receipt] of anchors.entries()) {
    let check: AnchorCheck;
    try {
      check = await verifyAnchorReceipt(note, receipt, client);
    } catch (err) {
      check = { valid: false, confirmations: 0, problems: [`the chain did not answer: ${(err as Error).message.split("\n")[0]}`] };
    }
    if (check.valid) held.push(`receipt ${i}: chain ${receipt.chain_id}, tx ${receipt.tx_hash} in block ${receipt.block_number}, ${check.confirmations} confirmations`);
    else failures.push(`receipt ${i} (chain ${receipt.chain_id}, tx ${receipt.tx_hash}): ${check.problems.join("; ")}`);
  }
  const checks = [...report.checks];
  const anchorCheck: Check = failures.length
    ? { name: "anchors", status: "fail", detail: `on chain: ${failures.join(" | ")}` }
    : { name: "anchors", status: "pass", detail: `on chain: ${held.join(" | ")}` };
  checks[at] = anchorCheck;
  return { ...report, checks, valid: report.valid && anchorCheck.status === "pass" };
}
