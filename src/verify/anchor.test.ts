import { describe, expect, it } from "vitest";
import { ANCHOR_TAG, anchorCalldata, AnchorReceiptFormatError, toAnchorReceipt, verifyAnchorReceipt, type AnchorChainReader, type RpcAnchorReceipt } from "./anchor.js";
import type { AnchorReceipt } from "./bundle.js";
import { toBase64, toHex, utf8 } from "./bytes.js";
import { leafHash, nodeHash } from "./merkle.js";

const NOTES = ["note one\n", "note two\n", "note three\n"];
const hashes = NOTES.map((n) => leafHash(utf8(n)));
// The batch of three notes: MTH = node(node(h0, h1), h2).
const batchRoot = nodeHash(nodeHash(hashes[0]!, hashes[1]!), hashes[2]!);
const TX = `0x${"ab".repeat(32)}` as const;
const BLOCK_HASH = `0x${"cd".repeat(32)}` as const;

const receipt = (over: Partial<AnchorReceipt> = {}): AnchorReceipt => ({
  chain_id: 31337,
  tx_hash: TX,
  block_number: 10,
  block_hash: BLOCK_HASH,
  batch_root: `0x${toHex(batchRoot)}`,
  leaf_index: 1,
  batch_size: 3,
  path: [toHex(hashes[0]!), toHex(hashes[2]!)],
  ...over,
});

/** A chain in memory that mined the anchor transaction in block 10 and is at block `head`. */
function chain(over: { input?: `0x${string}`; status?: "success" | "reverted"; canonicalHash?: `0x${string}`; head?: bigint; mined?: boolean } = {}): AnchorChainReader {
  return {
    getChainId: async () => 31337,
    getTransaction: async () => {
      if (over.mined === false) throw new Error("transaction not found");
      return { input: over.input ?? anchorCalldata(batchRoot), blockNumber: 10n, blockHash: BLOCK_HASH };
    },
    getTransactionReceipt: async () => ({ status: over.status ?? "success", blockNumber: 10n, blockHash: BLOCK_HASH }),
    getBlock: async () => ({ hash: over.canonicalHash ?? BLOCK_HASH, timestamp: 1_700_000_000n }),
    getBlockNumber: async () => over.head ?? 15n,
  };
}

describe("anchor receipts", () => {
  it("anchors a root as the ATST tag followed by the root", () => {
    expect(ANCHOR_TAG).toBe(`0x${toHex(utf8("ATST"))}`);
    expect(anchorCalldata(batchRoot)).toBe(`0x41545354${toHex(batchRoot)}`);
  });

  it("accepts a receipt whose path leads to the anchored root in a canonical block, counting confirmations to the head", async () => {
    expect(await verifyAnchorReceipt(NOTES[1]!, receipt(), chain())).toEqual({ valid: true, confirmations: 6, problems: [] });
  });

  it("refuses a receipt for another note or with a broken path, before asking the chain", async () => {
    const untouched: AnchorChainReader = {
      getChainId: () => Promise.reject(new Error("the chain was asked")),
      getTransaction: () => Promise.reject(new Error("the chain was asked")),
      getTransactionReceipt: () => Promise.reject(new Error("the chain was asked")),
      getBlock: () => Promise.reject(new Error("the chain was asked")),
      getBlockNumber: () => Promise.reject(new Error("the chain was asked")),
    };
    const other = await verifyAnchorReceipt(NOTES[0]!, receipt(), untouched);
    expect([other.valid, other.problems[0]]).toEqual([false, expect.stringContaining("not the batch root")]);
    const short = await verifyAnchorReceipt(NOTES[1]!, receipt({ path: [toHex(hashes[0]!)] }), untouched);
    expect([short.valid, short.problems[0]]).toEqual([false, expect.stringMatching(/^audit path: /)]);
  });

  it("names what is wrong on the chain: another chain, not mined, other data, reverted, a block no longer canonical", async () => {
    const problemsOf = async (client: AnchorChainReader, r = receipt()) => (await verifyAnchorReceipt(NOTES[1]!, r, client)).problems;
    expect(await problemsOf(chain(), receipt({ chain_id: 1 }))).toEqual(["the client is on chain 31337, the receipt names chain 1"]);
    expect(await problemsOf(chain({ mined: false }))).toEqual([`transaction ${TX} is not mined on chain 31337`]);
    expect(await problemsOf(chain({ input: `${ANCHOR_TAG}${"00".repeat(32)}` }))).toEqual(["the transaction's data is not the anchor tag followed by the batch root"]);
    expect(await problemsOf(chain({ status: "reverted" }))).toEqual(["the transaction reverted"]);
    expect(await problemsOf(chain({ canonicalHash: `0x${"ee".repeat(32)}` }))).toEqual([`block 10 on the chain is 0x${"ee".repeat(32)}, not ${BLOCK_HASH}`]);
    expect(await problemsOf(chain(), receipt({ block_number: 11 }))).toContain(`the transaction is in block 10 (${BLOCK_HASH}), the receipt says 11 (${BLOCK_HASH})`);
  });

  it("takes GetAnchorReceipt's JSON answer (camelCase, base64, 64-bit integers as strings, zero fields left out) as it is", async () => {
    const fromHexText = (h: string) => Uint8Array.from(Buffer.from(h.replace(/^0x/, ""), "hex"));
    const rpc: RpcAnchorReceipt = {
      chainId: "31337",
      txHash: TX,
      blockNumber: "10",
      blockHash: BLOCK_HASH,
      batchRoot: toBase64(batchRoot),
      batchSize: "3",
      leafIndex: "1",
      auditPath: [toBase64(hashes[0]!), toBase64(hashes[2]!)],
    };
    expect(toAnchorReceipt(rpc)).toEqual(receipt());
    expect(await verifyAnchorReceipt(NOTES[1]!, rpc, chain())).toEqual({ valid: true, confirmations: 6, problems: [] });
    // The first leaf of a one-note batch: leafIndex 0 and an empty path are left out of the JSON.
    const single = { chainId: "31337", txHash: TX, blockNumber: "10", blockHash: BLOCK_HASH, batchRoot: toBase64(hashes[0]!), batchSize: "1" };
    expect(toAnchorReceipt(single)).toMatchObject({ leaf_index: 0, batch_size: 1, path: [] });
    // The generated message itself (bigints, Uint8Array bytes) too.
    expect(toAnchorReceipt({ ...rpc, chainId: 31337n, blockNumber: 10n, batchSize: 3n, leafIndex: 1n, batchRoot: batchRoot, auditPath: [hashes[0]!, hashes[2]!], blockHash: BLOCK_HASH })).toEqual(
      receipt(),
    );
    expect(fromHexText(toAnchorReceipt(rpc).batch_root)).toEqual(batchRoot);
  });

  it("names the field of a receipt it cannot read, as a problem and never a crash", async () => {
    expect(() => toAnchorReceipt({ chainId: "31337", txHash: "0x12", batchRoot: toBase64(batchRoot) })).toThrow(new AnchorReceiptFormatError("txHash: must be 32 bytes (hex or base64)"));
    expect(() => toAnchorReceipt(receipt({ path: ["zz"] }))).toThrow("path[0]: must be 32 bytes");
    expect(() => toAnchorReceipt("receipt")).toThrow("receipt: must be an object");
    const check = await verifyAnchorReceipt(NOTES[1]!, { chainId: "-1" } as RpcAnchorReceipt, chain());
    expect(check).toEqual({ valid: false, confirmations: 0, problems: ["chainId: must be a non-negative integer"] });
  });
});
