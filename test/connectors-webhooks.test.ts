import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Attesto } from "../src/server/app.js";
import { post, seedBody, signedHeaders, signedWebhookConnector, tenantWithStream } from "./support/connectors.js";
import { isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Store } from "./support/webhooks.js";

let store: Store;
let app: Attesto;
let receiver: Receiver;

beforeAll(async () => {
  store = await isolatedStore("con");
  app = await startWebhookServer(store, { checkpointIntervalMs: 200, dbPoolSize: 4 });
  receiver = await Receiver.start();
});
afterAll(async () => {
  await app?.stop();
  await receiver?.close();
  await store?.drop();
});

describe("connector commits reach the tenant's stream webhooks", () => {
  it("an accepted connector commit grows the stream and fires the existing proofstream.checkpointed event", async () => {
    const t = await tenantWithStream(app);
    await webhookClient(app, t.key).createSubscription({ name: "ps", url: receiver.url(), eventTypes: ["proofstream.checkpointed"] });
    const c = await signedWebhookConnector(t);
    const body = seedBody("hooked-1");
    const res = await post(`${app.url}/v2/connectors/signed-webhooks/${c.id}/events`, signedHeaders(c.secret, body), body);
    expect(res.status).toBe(201);
    const delivered = await waitFor(() => {
      const found = receiver.received
        .filter((r) => r.headers["x-attesto-event"] === "proofstream.checkpointed")
        .map((r) => JSON.parse(r.body.toString("utf8")) as { tenant_id: string; data: { stream_id: string; tree_size: number } });
      return found.find((d) => d.data.stream_id === t.streamId);
    }, "a proofstream.checkpointed delivery for the connector's stream");
    expect(delivered.tenant_id).toBe(t.tenantId);
    expect(delivered.data.tree_size).toBe(1);
  });
});
