import { toJson } from "@bufbuild/protobuf";
import { eq } from "drizzle-orm";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { createPublicClient, http } from "viem";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AnchorReceiptSchema, AnchorService, BatchStatus } from "../gen/ts/attesto/v1/anchor_pb.js";
import { BundleStatus, ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { startDevChain } from "../src/anchoring/devchain.js";
import { anchorBatches } from "../src/anchoring/schema.js";
import type { Attesto } from "../src/server/app.js";
import { verifyAnchorReceipt, type RpcAnchorReceipt } from "../src/verify/index.js";
import { runCli, spawnServe } from "./support/process.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant, tempDir } from "./support/server.js";
import { isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Store } from "./support/webhooks.js";

const DEV_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"; // anvil's first unlocked account

describe("the dev chain's state file", () => {
  it("keeps blocks and receipts across a stop and a kill -9, and a chain without it starts afresh", async () => {
    const stateFile = path.join(await tempDir(), "devchain", "state.json");
    const first = await startDevChain({ stateFile });
    const genesis = await first.rpc<{ hash: string }>("eth_getBlockByNumber", ["0x0", false]);
    const tx = await first.rpc<string>("eth_sendTransaction", [{ from: DEV_ACCOUNT, to: DEV_ACCOUNT, value: "0x1" }]);
    await first.stop();

    const second = await startDevChain({ stateFile });
    let tx2: string;
    try {
      expect((await second.rpc<{ hash: string }>("eth_getBlockByNumber", ["0x0", false])).hash).toBe(genesis.hash);
      expect(await second.rpc<{ status: string } | null>("eth_getTransactionReceipt", [tx])).toMatchObject({ status: "0x1" });
      tx2 = await second.rpc<string>("eth_sendTransaction", [{ from: DEV_ACCOUNT, to: DEV_ACCOUNT, value: "0x2" }]);
      // A kill -9 skips the state written on stop: the periodic write (every second) has it.
      await waitFor(async () => (await readFile(stateFile, "utf8")).includes(tx2.slice(2)), "the periodic state write", 10_000, 200);
      const pid = Number((await readFile(`${stateFile}.pid`, "utf8")).trim());
      process.kill(pid, "SIGKILL");
    } finally {
      await second.stop(); // after the kill -9, a no-op; before it (a failed check), the chain is not left running
    }

    const third = await startDevChain({ stateFile });
    try {
      expect(await third.rpc<{ status: string } | null>("eth_getTransactionReceipt", [tx2])).toMatchObject({ status: "0x1" });
      expect((await third.rpc<{ hash: string }>("eth_getBlockByNumber", ["0x0", false])).hash).toBe(genesis.hash);
      // The fixed genesis time (what keeps block 0 the same) does not date the new blocks: they carry the real time.
      const head = await third.rpc<{ timestamp: string }>("eth_getBlockByNumber", ["latest", false]);
      expect(Math.abs(Number(head.timestamp) - Date.now() / 1000)).toBeLessThan(600);
    } finally {
      await third.stop();
    }
    const fresh = await startDevChain();
    try {
      expect(await fresh.rpc("eth_getTransactionReceipt", [tx])).toBeNull();
    } finally {
      await fresh.stop();
    }
  }, 60_000);
});

describe("a chain that no longer holds a confirmed batch", () => {
  let store: Store;
  let app: Attesto | undefined;
  let receiver: Receiver;
  // A chain in memory (DATABASE_URL is set): each start of the server gets a new one, as every `npm start` did before.
  const start = async () => {
    const started = await startWebhookServer(store, { anchorDevChain: true, anchorIntervalMs: 300, anchorPollMs: 200, checkpointIntervalMs: 200 });
    await started.anchoring.ready();
    return started;
  };

  beforeAll(async () => {
    store = await isolatedStore("anchor_lost");
    receiver = await Receiver.start();
  });

  afterAll(async () => {
    await app?.stop();
    await receiver?.close();
    await store?.drop();
  });

  it("fails it at start (batch.failed, reason chain_lost), anchors its checkpoint again, and the RPC's receipt verifies on the new chain", async () => {
    app = await start();
    const tenant = await newTenant(app.url);
    await webhookClient(app, tenant.key).createSubscription({ name: "anchors", url: receiver.url("/a"), eventTypes: ["batch.failed"] });
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "restart" });
    await ps.appendEvent(appendRequest(stream!.id, "one"));
    let anchor = clientFor(AnchorService, app.url, tenant.key);
    const first = await waitFor(async () => (await anchor.listBatches({ status: BatchStatus.CONFIRMED })).batches[0], "a confirmed batch", 60_000, 200);
    const before = (await anchor.getAnchorReceipt({ streamId: stream!.id })).receipt!;
    await app.stop();

    app = await start(); // a new chain: block numbers repeat, the old transaction is nowhere
    const [row] = await app.database.db.select().from(anchorBatches).where(eq(anchorBatches.id, first.id));
    expect(row).toMatchObject({ status: "failed", failureReason: "chain_lost" });
    const failed = await waitFor(
      () => receiver.received.map((r) => JSON.parse(r.body.toString()) as { event: string; data: Record<string, unknown> }).find((d) => d.event === "batch.failed"),
      "batch.failed",
    );
    expect(failed.data).toMatchObject({ batch_id: first.id, reason: "chain_lost", checkpoints: [{ stream_id: stream!.id, tree_size: 1 }] });

    anchor = clientFor(AnchorService, app.url, tenant.key);
    // The stream's receipt names a batch of the new chain once its checkpoint is anchored again. More than one
    // confirmed batch may exist by then (a checkpoint signed after the restart is anchored too), so the receipt
    // is what is waited for, and its batch must be one the new chain confirmed.
    const receipt = await waitFor(
      async () => {
        const answer = (await anchor.getAnchorReceipt({ streamId: stream!.id }).catch(() => ({ receipt: undefined }))).receipt;
        return answer && answer.batchId !== first.id ? answer : undefined;
      },
      "the checkpoint anchored again",
      60_000,
      200,
    );
    const confirmed = (await anchor.listBatches({ status: BatchStatus.CONFIRMED })).batches.map((b) => b.id);
    expect(confirmed).toContain(receipt.batchId);
    const client = createPublicClient({ transport: http(app.anchoring.chain!.rpcUrl) });
    // The RPC's answer as a Connect JSON client gets it (camelCase, base64 bytes, zero fields left out) goes to the library as is.
    const asJson = toJson(AnchorReceiptSchema, receipt!) as RpcAnchorReceipt;
    expect(asJson.leafIndex).toBeUndefined(); // the first leaf: a zero field the JSON leaves out
    expect(await verifyAnchorReceipt(receipt!.checkpointNote, asJson, client)).toMatchObject({ valid: true, problems: [] });
    expect((await verifyAnchorReceipt(receipt!.checkpointNote, receipt! as unknown as RpcAnchorReceipt, client)).valid).toBe(true);
    // The receipt from before the restart names a transaction this chain never mined.
    const stale = await verifyAnchorReceipt(before.checkpointNote, toJson(AnchorReceiptSchema, before) as RpcAnchorReceipt, client);
    expect(stale.valid).toBe(false);
  }, 180_000);
});

describe("npm start's defaults across restarts", () => {
  function embeddedEnv(dataDir: string): NodeJS.ProcessEnv {
    const { DATABASE_URL: _d, REDIS_URL: _r, ATTESTO_ENCRYPTION_KEY: _k, ATTESTO_ADMIN_TOKEN: _a, ...rest } = process.env;
    return {
      ...rest,
      LOG_LEVEL: "warn",
      ATTESTO_DATA_DIR: dataDir,
      ATTESTO_QUEUE_PREFIX: `${inject("queuePrefix")}_restart_${randomBytes(3).toString("hex")}`,
      ATTESTO_WORKERS: "1",
      ATTESTO_ANCHOR_INTERVAL_MS: "300",
      ATTESTO_ANCHOR_POLL_MS: "200",
      ATTESTO_CHECKPOINT_INTERVAL_MS: "200",
    };
  }

  it("an anchor receipt from the first run still verifies on chain (attesto verify --rpc) after two restarts", async () => {
    const dataDir = await tempDir();
    const env = embeddedEnv(dataDir);
    const stop = async (child: ChildProcess) => {
      const closed = new Promise((r) => child.once("close", r));
      child.kill("SIGTERM");
      await closed;
    };
    let served = await spawnServe(env);
    let bundleFile: string;
    let verifierKey: string;
    try {
      const key = served.info.devTenant!.apiKey;
      const ps = clientFor(ProofstreamService, served.info.url, key);
      const { stream } = await ps.createStream({ name: "first run" });
      verifierKey = stream!.verifierKey;
      await ps.appendEvent(appendRequest(stream!.id, "one"));
      const anchor = clientFor(AnchorService, served.info.url, key);
      await waitFor(async () => (await anchor.listBatches({ status: BatchStatus.CONFIRMED })).batches[0], "a confirmed batch", 60_000, 200);
      const { bundle: pending } = await ps.createBundle({ streamId: stream!.id, fromSeqNo: 1n, toSeqNo: 1n });
      const ready = await waitFor(
        async () => {
          const { bundle } = await ps.getBundle({ bundleId: pending!.id });
          return bundle!.status === BundleStatus.READY && JSON.parse(bundle!.bundleJson).anchors.length > 0 ? bundle : undefined;
        },
        "an anchored bundle",
        60_000,
        200,
      );
      bundleFile = path.join(dataDir, "first-run.bundle.json");
      await writeFile(bundleFile, ready.bundleJson);
    } finally {
      await stop(served.child);
    }
    const rpcUrl = (await readFile(path.join(dataDir, "devchain", "rpc-url"), "utf8")).trim();
    for (const run of [2, 3]) {
      served = await spawnServe(env);
      try {
        // The server serves at once and starts the chain beside it: wait until it answers on its kept port.
        await waitFor(
          () =>
            fetch(rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' }).then(
              (r) => r.ok,
              () => false,
            ),
          "the dev chain",
          30_000,
          100,
        );
        // Its start-up chain check found the first run's batch on the chain: still confirmed, not re-anchored.
        const anchor = clientFor(AnchorService, served.info.url, served.info.devTenant!.apiKey);
        const batches = await waitFor(async () => (await anchor.listBatches({})).batches, "the batches");
        expect(batches.map((b) => b.status)).toEqual([BatchStatus.CONFIRMED]);
        const res = await runCli(["verify", bundleFile, "--key", verifierKey, "--rpc", rpcUrl], env);
        expect(res.stdout, `run ${run}: ${res.stderr}`).toMatch(/✔ anchors: pass — on chain: receipt 0: chain 31337/);
        expect(res.code).toBe(0);
      } finally {
        await stop(served.child);
      }
    }
    // Offline, the anchor check says what it did not do.
    const offline = await runCli(["verify", bundleFile, "--key", verifierKey], env);
    expect(offline.code).toBe(0);
    expect(offline.stdout).toMatch(/anchors: offline — offline: path only/);
  }, 420_000);
});
