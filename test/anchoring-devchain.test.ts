import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnchorService, BatchStatus, ConfirmationRule } from "../gen/ts/attesto/v1/anchor_pb.js";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import type { Attesto } from "../src/server/app.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant } from "./support/server.js";
import { isolatedStore, startWebhookServer, waitFor, type Store } from "./support/webhooks.js";

let store: Store;
let app: Attesto;

// What the embedded default does (ATTESTO_ANCHOR_DEV_CHAIN is on without DATABASE_URL): no RPC URL
// configured, Hardhat installed → a dev chain on loopback, the generated sender funded, the periodic jobs anchoring.
beforeAll(async () => {
  store = await isolatedStore("anchor_dev");
  app = await startWebhookServer(store, { anchorDevChain: true, anchorIntervalMs: 300, anchorPollMs: 200, checkpointIntervalMs: 200 });
  await app.anchoring.ready(); // the server serves at once; the chain joins in the background
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await store?.drop();
});

describe("the development chain", () => {
  it("is started when no chain is configured, and the periodic jobs confirm batches on it by its finalized tag", async () => {
    expect(app.anchoring.chain).toMatchObject({ chainId: 31337, rule: "finalized" });
    expect(app.anchoring.chain!.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const tenant = await newTenant(app.url);
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "dev" });
    await ps.appendEvent(appendRequest(stream!.id, "one"));
    const anchor = clientFor(AnchorService, app.url, tenant.key);
    const batch = await waitFor(async () => (await anchor.listBatches({ status: BatchStatus.CONFIRMED })).batches[0], "a confirmed batch", 60_000, 200);
    expect(batch).toMatchObject({ chainId: 31337n, confirmationRule: ConfirmationRule.FINALIZED, tenantMemberCount: 1 });
    const { receipt } = await anchor.getAnchorReceipt({ streamId: stream!.id });
    expect(receipt).toMatchObject({ treeSize: 1n, batchId: batch.id });
  });

  it("stops with the server", async () => {
    const url = app.anchoring.chain!.rpcUrl;
    await app.stop();
    await expect(fetch(url, { method: "POST", body: "{}" })).rejects.toThrow();
    app = undefined as unknown as Attesto;
  });
});
