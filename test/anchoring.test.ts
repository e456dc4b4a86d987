import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { createPublicClient, http } from "viem";
import { and, eq } from "drizzle-orm";
import { AnchorService, BatchStatus, ConfirmationRule, type AnchorReceipt as AnchorReceiptMsg } from "../gen/ts/attesto/v1/anchor_pb.js";
import { BundleStatus, ForkEvidenceKind, ForkEvidenceSource, ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { checkpoints } from "../src/proofstream/schema.js";
import { anchorBatches, anchorMembers, anchorTransactions } from "../src/anchoring/schema.js";
import type { Attesto } from "../src/server/app.js";
import { webhookDeliveries } from "../src/webhooks/schema.js";
import { checkAnchorsOnChain, verifyAnchorReceipt, verifyBundle, type AnchorReceipt, type BundleDocument } from "../src/verify/index.js";
import { manualDevChain } from "./support/devchain.js";
import { appendRequest } from "./support/proofstream.js";
import { runCli } from "./support/process.js";
import { clientFor, newTenant, tempDir } from "./support/server.js";
import { isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Store } from "./support/webhooks.js";

type Chain = Awaited<ReturnType<typeof manualDevChain>>;

let chain: Chain;
let store: Store;
let app: Attesto;
let receiver: Receiver;
let a: { tenantId: string; key: string };
let b: { tenantId: string; key: string };
let streamA1: string;
let streamA2: string;
let streamB: string;

const HOUR = 3_600_000;
const ORPHAN_WINDOW_MS = 4_000;
const REPLACE_AFTER_MS = 1_500;

/** Drives the jobs by hand: the periodic ones are an hour apart. */
const settings = {
  anchorFinality: "confirmations" as const,
  anchorConfirmations: 2,
  anchorIntervalMs: HOUR,
  anchorPollMs: HOUR,
  anchorOrphanWindowMs: ORPHAN_WINDOW_MS,
  anchorReplaceAfterMs: REPLACE_AFTER_MS,
  checkpointIntervalMs: HOUR,
  // Each batch's members are counted exactly here: the tenants' deliveries Proofstreams (their webhook attempts) would join the batches.
  webhookDeliveryProofs: false,
};

const start = async () => {
  const started = await startWebhookServer(store, { ...settings, anchorRpcUrl: chain.url });
  await chain.fund(started.anchoring.chain!.sender);
  return started;
};

let seq = 0;
async function append(key: string, streamId: string, n: number) {
  const ps = clientFor(ProofstreamService, app.url, key);
  for (let i = 0; i < n; i++) await ps.appendEvent(appendRequest(streamId, `ref-${++seq}`));
}

const deliveries = (tenantId: string, event: string) =>
  receiver.received.map((r) => JSON.parse(r.body.toString()) as { event: string; tenant_id: string; data: Record<string, unknown> }).filter((d) => d.tenant_id === tenantId && d.event === event);

const bundleReceipt = (r: AnchorReceiptMsg): AnchorReceipt => ({
  chain_id: Number(r.chainId),
  tx_hash: r.txHash,
  block_number: Number(r.blockNumber),
  block_hash: r.blockHash,
  batch_root: `0x${Buffer.from(r.batchRoot).toString("hex")}`,
  leaf_index: Number(r.leafIndex),
  batch_size: Number(r.batchSize),
  path: r.auditPath.map((h) => Buffer.from(h).toString("hex")),
});

const viemClient = () => createPublicClient({ transport: http(chain.url) });

async function batchRow(id: string) {
  const [row] = await app.database.db.select().from(anchorBatches).where(eq(anchorBatches.id, id));
  return row!;
}

beforeAll(async () => {
  chain = await manualDevChain();
  store = await isolatedStore("anchor");
  receiver = await Receiver.start();
  app = await start();
  a = await newTenant(app.url);
  b = await newTenant(app.url);
  await webhookClient(app, a.key).createSubscription({ name: "a", url: receiver.url("/a"), eventTypes: ["batch.confirmed", "batch.failed", "event.anchored"] });
  await webhookClient(app, b.key).createSubscription({ name: "b", url: receiver.url("/b"), eventTypes: ["batch.confirmed"] });
  streamA1 = (await clientFor(ProofstreamService, app.url, a.key).createStream({ name: "a1" })).stream!.id;
  streamA2 = (await clientFor(ProofstreamService, app.url, a.key).createStream({ name: "a2" })).stream!.id;
  streamB = (await clientFor(ProofstreamService, app.url, b.key).createStream({ name: "b" })).stream!.id;
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await receiver?.close();
  await store?.drop();
  await chain?.stop();
});

describe("anchoring on a local EVM chain", () => {
  let firstBatch: string;

  it("confirms a batch of several tenants' checkpoints after N confirmations, and its receipts verify against the chain", async () => {
    await append(a.key, streamA1, 5);
    await append(a.key, streamA2, 3);
    await append(b.key, streamB, 2);
    expect(await app.proofstreams.closeGrownCheckpoints()).toBe(3);
    const built = await app.anchoring.anchorNow();
    expect(built!.members).toBe(3);
    firstBatch = built!.id;
    expect((await batchRow(firstBatch)).status).toBe("submitted");

    const anchor = clientFor(AnchorService, app.url, a.key);
    await expect(anchor.getAnchorReceipt({ streamId: streamA1, treeSize: 5n })).rejects.toMatchObject({ code: Code.FailedPrecondition });

    await chain.mine(1);
    await app.anchoring.trackNow();
    const mined = await batchRow(firstBatch);
    expect(mined).toMatchObject({ status: "submitted" }); // one confirmation of the two asked for
    expect(mined.blockNumber).not.toBeNull();
    await chain.mine(1);
    await app.anchoring.trackNow();
    expect(await batchRow(firstBatch)).toMatchObject({ status: "confirmed", confirmationRule: "confirmations", confirmations: 2 });

    const { receipt } = await anchor.getAnchorReceipt({ streamId: streamA1, treeSize: 0n });
    expect(receipt).toMatchObject({
      streamId: streamA1,
      treeSize: 5n,
      batchId: firstBatch,
      chainId: 31337n,
      batchSize: 3n,
      previousTreeSize: 0n,
      confirmationRule: ConfirmationRule.CONFIRMATIONS,
      confirmations: 2,
    });
    expect(receipt!.blockTime).toBeDefined();
    const check = await verifyAnchorReceipt(receipt!.checkpointNote, bundleReceipt(receipt!), viemClient());
    expect(check).toMatchObject({ valid: true, problems: [] });
    expect(check.confirmations).toBeGreaterThanOrEqual(2);
    const { receipt: receiptB } = await clientFor(AnchorService, app.url, b.key).getAnchorReceipt({ streamId: streamB, treeSize: 2n });
    expect((await verifyAnchorReceipt(receiptB!.checkpointNote, bundleReceipt(receiptB!), viemClient())).valid).toBe(true);

    // A receipt for another note, or a root the transaction does not carry, does not verify.
    const forged = await verifyAnchorReceipt(receiptB!.checkpointNote, bundleReceipt(receipt!), viemClient());
    expect(forged.valid).toBe(false);
    const wrongRoot = { ...bundleReceipt(receipt!), batch_root: `0x${"00".repeat(32)}` };
    expect((await verifyAnchorReceipt(receipt!.checkpointNote, wrongRoot, viemClient())).valid).toBe(false);

    // batch.confirmed to each tenant with its own checkpoints; event.anchored only where subscribed, one per stream.
    await waitFor(() => deliveries(a.tenantId, "event.anchored").length === 2 && deliveries(b.tenantId, "batch.confirmed").length === 1, "deliveries");
    const [confirmedA] = deliveries(a.tenantId, "batch.confirmed");
    expect(confirmedA!.data).toMatchObject({ batch_id: firstBatch, chain_id: 31337, tx_hash: receipt!.txHash, block_number: Number(receipt!.blockNumber) });
    expect((confirmedA!.data.checkpoints as Array<{ stream_id: string }>).map((c) => c.stream_id).sort()).toEqual([streamA1, streamA2].sort());
    expect(deliveries(b.tenantId, "batch.confirmed")[0]!.data.checkpoints).toEqual([{ stream_id: streamB, tree_size: 2 }]);
    expect(
      deliveries(a.tenantId, "event.anchored")
        .map((d) => d.data)
        .find((d) => d.stream_id === streamA1),
    ).toMatchObject({ from_seq_no: 1, to_seq_no: 5, checkpoint_size: 5, batch_id: firstBatch });
    expect(deliveries(b.tenantId, "event.anchored")).toEqual([]);
  });

  it("bundles carry the receipts of their anchored checkpoint, and they verify", async () => {
    const ps = clientFor(ProofstreamService, app.url, a.key);
    const { bundle: pending } = await ps.createBundle({ streamId: streamA1, fromSeqNo: 1n, toSeqNo: 5n, includePayloads: false });
    const bundle = await waitFor(async () => {
      const { bundle: b } = await ps.getBundle({ bundleId: pending!.id });
      if (b!.status === BundleStatus.FAILED) throw new Error(b!.failureReason);
      return b!.status === BundleStatus.READY ? b! : undefined;
    }, "the bundle");
    const doc = JSON.parse(bundle.bundleJson) as BundleDocument;
    const { receipt } = await clientFor(AnchorService, app.url, a.key).getAnchorReceipt({ streamId: streamA1, treeSize: 5n });
    expect(doc.anchors).toEqual([bundleReceipt(receipt!)]);
    const offline = verifyBundle(doc);
    expect(offline.checks.find((c) => c.name === "anchors")).toMatchObject({ status: "offline" });
    expect((await verifyAnchorReceipt(doc.checkpoint, doc.anchors[0]!, viemClient())).valid).toBe(true);
    const onChain = await checkAnchorsOnChain(offline, doc.checkpoint, doc.anchors, viemClient());
    expect(onChain.checks.find((c) => c.name === "anchors")).toMatchObject({ status: "pass", detail: expect.stringMatching(/^on chain: receipt 0: chain 31337/) });
    // Against another chain (a fresh one: the transaction was never mined there), the same receipt fails.
    const elsewhere = await manualDevChain();
    try {
      const there = await checkAnchorsOnChain(offline, doc.checkpoint, doc.anchors, createPublicClient({ transport: http(elsewhere.url) }));
      expect(there.valid).toBe(false);
      expect(there.checks.find((c) => c.name === "anchors")).toMatchObject({ status: "fail", detail: expect.stringContaining("is not mined on chain 31337") });
    } finally {
      await elsewhere.stop();
    }
  });

  it("attesto anchor lists the batches, shows one with the tenant's members, and writes and checks a receipt on chain with --rpc (issue 26, defect 5: no anchor command)", async () => {
    const env = (key: string) => ({ ...process.env, LOG_LEVEL: "warn", ATTESTO_URL: app.url, ATTESTO_API_KEY: key });
    const batches = await runCli(["--json", "anchor", "batches", "--status", "confirmed", "--stream", streamA1], env(a.key));
    expect(batches.code, batches.stderr).toBe(0);
    expect(JSON.parse(batches.stdout)).toEqual([expect.objectContaining({ id: firstBatch, status: "BATCH_STATUS_CONFIRMED", chainId: "31337" })]);
    const one = await runCli(["--json", "anchor", "batch", firstBatch], env(b.key));
    expect(one.code, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ batch: { id: firstBatch, memberCount: 3, tenantMemberCount: 1 }, members: [{ streamId: streamB, treeSize: "2" }] });

    const out = path.join(await tempDir(), "receipt.json");
    const checked = await runCli(["anchor", "receipt", streamA1, "--tree-size", "5", "--out", out, "--rpc", chain.url], env(a.key));
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).toContain(`checkpoint ${streamA1} at size 5 is in batch ${firstBatch}`);
    expect(checked.stdout).toMatch(/✔ on chain at \S+: \d+ confirmations/);
    expect(JSON.parse(await readFile(out, "utf8"))).toMatchObject({ streamId: streamA1, treeSize: "5", batchId: firstBatch });
    // A chain that never mined the transaction: exit 1, saying why.
    const elsewhere = await manualDevChain();
    try {
      const refused = await runCli(["anchor", "receipt", streamA1, "--rpc", elsewhere.url], env(a.key));
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(/✘ not on chain at \S+: .*not mined/);
    } finally {
      await elsewhere.stop();
    }
  }, 240_000);

  it("shows a tenant only its own members of a batch", async () => {
    const asB = clientFor(AnchorService, app.url, b.key);
    const { batch } = await asB.getBatch({ batchId: firstBatch });
    expect(batch).toMatchObject({ id: firstBatch, status: BatchStatus.CONFIRMED, memberCount: 3, tenantMemberCount: 1 });
    const { members } = await asB.listBatchMembers({ batchId: firstBatch });
    expect(members.map((m) => m.streamId)).toEqual([streamB]);
    const { members: ofA } = await clientFor(AnchorService, app.url, a.key).listBatchMembers({ batchId: firstBatch });
    expect(ofA.map((m) => m.streamId).sort()).toEqual([streamA1, streamA2].sort());
    // Another tenant's stream reads as missing.
    await expect(asB.getAnchorReceipt({ streamId: streamA1 })).rejects.toMatchObject({ code: Code.NotFound });
    const outsider = await newTenant(app.url);
    await expect(clientFor(AnchorService, app.url, outsider.key).getBatch({ batchId: firstBatch })).rejects.toMatchObject({ code: Code.NotFound });
    expect((await clientFor(AnchorService, app.url, outsider.key).listBatches({})).batches).toEqual([]);
    const listed = await asB.listBatches({ streamId: streamB, status: BatchStatus.CONFIRMED });
    expect(listed.batches.map((x) => x.id)).toEqual([firstBatch]);
    await expect(asB.getBatch({ batchId: "bat_nope" })).rejects.toMatchObject({ code: Code.InvalidArgument });
  });

  it("re-broadcasts a transaction a reorg dropped, and confirms it in the new chain", async () => {
    const sender = app.anchoring.chain!.sender;
    const nonceBefore = await chain.nonceOf(sender);
    await append(a.key, streamA1, 2);
    await app.proofstreams.closeGrownCheckpoints();
    const snapshot = await chain.snapshot();
    const built = await app.anchoring.anchorNow();
    expect(built!.members).toBe(1);
    await chain.mine(1);
    await app.anchoring.trackNow();
    const before = await batchRow(built!.id);
    expect(before.blockNumber).not.toBeNull();

    await chain.revert(snapshot); // the block with the transaction is gone, and the transaction with it
    await chain.mine(1); // the new chain grows past the old height without it
    await app.anchoring.trackNow(); // not mined any more: sent again
    expect(await batchRow(built!.id)).toMatchObject({ status: "submitted", blockNumber: null });
    await chain.mine(2);
    await app.anchoring.trackNow();
    const after = await batchRow(built!.id);
    expect(after).toMatchObject({ status: "confirmed", txHash: before.txHash });
    expect(after.blockNumber).toBeGreaterThan(before.blockNumber!);
    expect(await chain.nonceOf(sender)).toBe(nonceBefore + 1);

    const { receipt } = await clientFor(AnchorService, app.url, a.key).getAnchorReceipt({ streamId: streamA1, treeSize: 7n });
    expect(receipt).toMatchObject({ previousTreeSize: 5n, blockHash: after.blockHash });
    expect(receipt!.consistencyProof.length).toBeGreaterThan(0);
    expect((await verifyAnchorReceipt(receipt!.checkpointNote, bundleReceipt(receipt!), viemClient())).valid).toBe(true);
    await waitFor(() => deliveries(a.tenantId, "event.anchored").some((d) => d.data.batch_id === built!.id), "event.anchored of the re-mined batch");
    expect(deliveries(a.tenantId, "event.anchored").find((d) => d.data.batch_id === built!.id)!.data).toMatchObject({ stream_id: streamA1, from_seq_no: 6, to_seq_no: 7 });
  });

  it("replaces a transaction not mined in time, fails the batch after the orphan window, and puts its checkpoints in the next batch", async () => {
    await append(b.key, streamB, 1);
    await app.proofstreams.closeGrownCheckpoints();
    const built = await app.anchoring.anchorNow();
    const first = await batchRow(built!.id);

    await new Promise((r) => setTimeout(r, REPLACE_AFTER_MS + 100));
    await app.anchoring.trackNow();
    const replaced = await batchRow(built!.id);
    expect(replaced.txHash).not.toBe(first.txHash);
    expect(replaced.nonce).toBe(first.nonce);
    const txs = await app.database.db.select().from(anchorTransactions).where(eq(anchorTransactions.batchId, built!.id));
    expect(txs).toHaveLength(2);
    const [older, newer] = txs.sort((x, y) => Number(BigInt(x.maxFeePerGas) - BigInt(y.maxFeePerGas)));
    expect(BigInt(newer!.maxFeePerGas) * 10n).toBeGreaterThan(BigInt(older!.maxFeePerGas) * 11n);

    await waitFor(async () => (await app.anchoring.trackNow(), (await batchRow(built!.id)).status === "failed"), "the orphan window", ORPHAN_WINDOW_MS + 10_000, 500);
    expect(await batchRow(built!.id)).toMatchObject({ status: "failed", failureReason: "orphan_window" });
    // Deliveries are written with the failure: B holds the checkpoint but does not subscribe to batch.failed, A is not in the batch.
    const failedRows = await app.database.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.eventType, "batch.failed"));
    expect(failedRows).toEqual([]);

    const next = await app.anchoring.anchorNow();
    expect(next!.id).not.toBe(built!.id);
    const members = await app.database.db.select().from(anchorMembers).where(eq(anchorMembers.batchId, next!.id));
    expect(members.map((m) => [m.streamId, m.treeSize])).toEqual([[streamB, 3]]);
    expect(members[0]!.previousTreeSize).toBe(2);
    await chain.mine(2);
    await app.anchoring.trackNow();
    expect((await batchRow(next!.id)).status).toBe("confirmed");
    const { receipt } = await clientFor(AnchorService, app.url, b.key).getAnchorReceipt({ streamId: streamB, treeSize: 3n });
    expect(receipt!.batchId).toBe(next!.id);
    expect((await verifyAnchorReceipt(receipt!.checkpointNote, bundleReceipt(receipt!), viemClient())).valid).toBe(true);
  });

  it("sends batch.failed to a subscribed tenant", async () => {
    await append(a.key, streamA2, 1);
    await app.proofstreams.closeGrownCheckpoints();
    const built = await app.anchoring.anchorNow();
    await waitFor(async () => (await app.anchoring.trackNow(), (await batchRow(built!.id)).status === "failed"), "the orphan window", ORPHAN_WINDOW_MS + 10_000, 500);
    const failed = await waitFor(() => deliveries(a.tenantId, "batch.failed").find((d) => d.data.batch_id === built!.id), "batch.failed");
    expect(failed.data).toMatchObject({ reason: "orphan_window", checkpoints: [{ stream_id: streamA2, tree_size: 4 }] });
  });

  it("a restart between broadcast and confirmation neither loses nor duplicates the batch", async () => {
    const sender = app.anchoring.chain!.sender;
    const nonceBefore = await chain.nonceOf(sender);
    const built = await app.anchoring.anchorNow(); // streamA2 at 4 again, after the failure above
    expect(built!.members).toBe(1);
    const sent = await batchRow(built!.id);
    expect(sent.status).toBe("submitted");
    await app.stop();

    app = await start();
    expect(app.anchoring.chain!.sender).toBe(sender); // the sealed key is read back
    await chain.mine(2);
    await app.anchoring.trackNow();
    expect(await batchRow(built!.id)).toMatchObject({ status: "confirmed", txHash: sent.txHash });
    expect(await app.anchoring.anchorNow()).toBeUndefined(); // nothing grew: no second batch
    expect(await chain.nonceOf(sender)).toBe(nonceBefore + 1);
    const holding = await app.database.db.select().from(anchorMembers).where(eq(anchorMembers.streamId, streamA2));
    const confirmed = [];
    for (const m of holding) if ((await batchRow(m.batchId)).status === "confirmed" && m.treeSize === 4) confirmed.push(m);
    expect(confirmed).toHaveLength(1);
  });
});

describe("anchoring and fork evidence", () => {
  it("records fork evidence (source anchor) when a stream's newest checkpoint does not extend a confirmed anchored root, and leaves the stream out", async () => {
    await append(b.key, streamB, 1);
    await app.proofstreams.closeGrownCheckpoints();
    // A forked signer: the checkpoint at 4 names a root that is no extension of the anchored one at 3.
    await app.database.db
      .update(checkpoints)
      .set({ rootHash: Buffer.alloc(32, 7) })
      .where(and(eq(checkpoints.streamId, streamB), eq(checkpoints.treeSize, 4)));
    expect(await app.anchoring.anchorNow()).toBeUndefined();
    const { forkEvidence } = await clientFor(ProofstreamService, app.url, b.key).listForkEvidence({ streamId: streamB });
    expect(forkEvidence).toHaveLength(1);
    expect(forkEvidence[0]).toMatchObject({ source: ForkEvidenceSource.ANCHOR, kind: ForkEvidenceKind.ANCHOR_CONTRADICTION, historySize: 4n, conflictingSize: 3n });
    // Reported once however often the batch builder looks.
    await app.anchoring.anchorNow();
    expect((await clientFor(ProofstreamService, app.url, b.key).listForkEvidence({ streamId: streamB })).forkEvidence).toHaveLength(1);
  });
});

describe("anchoring without a chain", () => {
  it("is off, and the reads answer from what is stored", async () => {
    expect(app.anchoring.enabled).toBe(true);
    const other = await isolatedStore("anchor_off");
    try {
      const off = await startWebhookServer(other);
      try {
        expect(off.anchoring.enabled).toBe(false);
        const t = await newTenant(off.url);
        expect((await clientFor(AnchorService, off.url, t.key).listBatches({})).batches).toEqual([]);
        await expect(off.anchoring.anchorNow()).rejects.toMatchObject({ code: "failed_precondition" });
      } finally {
        await off.stop();
      }
    } finally {
      await other.drop();
    }
  });
});
