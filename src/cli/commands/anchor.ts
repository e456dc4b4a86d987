import { writeFile } from "node:fs/promises";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Option, type Command } from "commander";
import { AnchorReceiptSchema, BatchMemberSchema, BatchSchema, BatchStatus, type AnchorReceipt, type Batch } from "../../../gen/ts/attesto/v1/anchor_pb.js";
import type { RpcAnchorReceipt } from "../../verify/anchor.js";
import { allPages } from "../remote.js";
import type { CliIo } from "./evidence.js";
import { jsonOf, positiveInt } from "./remote-common.js";

/** The --status choices, as the RPC's enum. */
const STATUS: Record<string, BatchStatus> = {
  pending: BatchStatus.PENDING,
  submitted: BatchStatus.SUBMITTED,
  confirmed: BatchStatus.CONFIRMED,
  failed: BatchStatus.FAILED,
};

const statusName = (s: BatchStatus) => (BatchStatus[s] ?? String(s)).toLowerCase();
const iso = (t: Timestamp | undefined) => (t ? timestampDate(t).toISOString() : "-");

const batchLine = (b: Batch) =>
  [
    b.id,
    statusName(b.status) + (b.failureReason ? ` (${b.failureReason})` : ""),
    `chain ${b.chainId}`,
    b.blockNumber ? `block ${b.blockNumber}` : "not mined",
    `${b.tenantMemberCount} of ${b.memberCount} checkpoints yours`,
    iso(b.createdAt),
  ].join("\t");

const receiptLines = (r: AnchorReceipt) =>
  [
    `checkpoint ${r.streamId} at size ${r.treeSize} is in batch ${r.batchId} (leaf ${r.leafIndex} of ${r.batchSize})`,
    `chain ${r.chainId}, transaction ${r.txHash}, block ${r.blockNumber} (${r.blockHash}), confirmed ${iso(r.confirmedAt)}`,
  ].join("\n");

/**
 * `attesto anchor`: where the tenant's checkpoints are anchored (AnchorService
 * over the RPCs, the tenant key from ATTESTO_API_KEY), and a receipt checked
 * against the chain with --rpc, as `attesto verify --rpc` checks a bundle's.
 */
export function registerAnchorCommands(program: Command, io: CliIo): void {
  const anchor = program.command("anchor").description("anchor batches of the tenant's checkpoints on chain, and their receipts (the tenant whose key is in ATTESTO_API_KEY)");

  anchor
    .command("batches")
    .description("list the batches holding the tenant's checkpoints, newest first")
    .addOption(new Option("--status <status>", "only batches in this status").choices(Object.keys(STATUS)))
    .option("--stream <streamId>", "only batches holding a checkpoint of this stream")
    .action(async (o: { status?: string; stream?: string }) => {
      const { client } = await io.session("tenant");
      const status = o.status === undefined ? BatchStatus.UNSPECIFIED : STATUS[o.status]!;
      const batches = await allPages(
        (pageToken) => client.anchors.listBatches({ pageToken, status, streamId: o.stream }),
        (page) => page.batches,
      );
      io.output(
        batches.map((b) => jsonOf(BatchSchema, b)),
        () => (batches.length ? batches.map(batchLine).join("\n") : "no batches"),
      );
    });

  anchor
    .command("batch <batchId>")
    .description("one batch, and the tenant's checkpoints in it")
    .action(async (batchId: string) => {
      const { client } = await io.session("tenant");
      const { batch } = await client.anchors.getBatch({ batchId });
      const members = await allPages(
        (pageToken) => client.anchors.listBatchMembers({ batchId, pageToken }),
        (page) => page.members,
      );
      io.output({ batch: jsonOf(BatchSchema, batch), members: members.map((m) => jsonOf(BatchMemberSchema, m)) }, () =>
        [batchLine(batch!), ...members.map((m) => `  leaf ${m.leafIndex}: ${m.streamId} at size ${m.treeSize}`)].join("\n"),
      );
    });

  anchor
    .command("receipt <streamId>")
    .description("the receipt anchoring a checkpoint of the stream (its newest confirmed one unless --tree-size); with --rpc, checked on the chain (exit 0 valid, 1 failed)")
    .addOption(new Option("--tree-size <n>", "the anchored checkpoint's tree size").argParser(positiveInt("--tree-size")))
    .option("--out <file>", "write the receipt (the RPC's JSON) to this file")
    .option("--rpc <url>", "a JSON-RPC endpoint of the anchor chain: check that it holds the receipt's transaction, in the block the receipt names")
    .action(async (streamId: string, o: { treeSize?: number; out?: string; rpc?: string }) => {
      const { client } = await io.session("tenant");
      const { receipt } = await client.anchors.getAnchorReceipt({ streamId, treeSize: BigInt(o.treeSize ?? 0) });
      const json = jsonOf(AnchorReceiptSchema, receipt);
      if (o.out !== undefined) await writeFile(o.out, JSON.stringify(json, null, 2) + "\n");
      if (o.rpc === undefined) {
        io.output({ receipt: json }, () => receiptLines(receipt!) + (o.out !== undefined ? `\nwritten to ${o.out}` : ""));
        return;
      }
      if (!/^https?:\/\//.test(o.rpc)) throw new Error(`--rpc: ${o.rpc} is not an http(s) URL`);
      // Loaded only here: viem is the chain client.
      const [{ createPublicClient, http }, { verifyAnchorReceipt }] = await Promise.all([import("viem"), import("../../verify/anchor.js")]);
      const chain = createPublicClient({ transport: http(o.rpc, { retryCount: 0, timeout: 10_000 }) });
      const check = await verifyAnchorReceipt(receipt!.checkpointNote, json as RpcAnchorReceipt, chain);
      if (!check.valid) process.exitCode = 1;
      io.output({ receipt: json, on_chain: check }, () =>
        [receiptLines(receipt!), check.valid ? `✔ on chain at ${o.rpc}: ${check.confirmations} confirmations` : `✘ not on chain at ${o.rpc}: ${check.problems.join("; ")}`].join("\n"),
      );
    });
}
