import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Attesto } from "../src/server/app.js";
import { ADMIN_TOKEN, newTenant } from "./support/server.js";
import { emitEvents, isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Store } from "./support/webhooks.js";

const VIEWER_TOKEN = "board-viewer-token-0123456789";

let store: Store;
let app: Attesto;
let receiver: Receiver;

beforeAll(async () => {
  store = await isolatedStore("board");
  // A retry a minute later: the job waits, delayed, with its first attempt on it.
  app = await startWebhookServer(store, { boardViewerToken: VIEWER_TOKEN, webhookRetrySchedule: [0, 60_000] });
  receiver = await Receiver.start(0);
});
afterAll(async () => {
  await receiver?.close();
  await app?.stop();
  await store?.drop();
});

const board = (path: string, token: string, method = "GET") => fetch(`${app.url}/admin/queues${path}`, { method, headers: { authorization: `Bearer ${token}` } });

describe("the queue board", () => {
  it("names a delivery job by event type and endpoint host, with its tenant, attempt n of N and last status; never the body or URL path", async () => {
    const tenant = await newTenant(app.url);
    receiver.respond = () => ({ status: 503 });
    await webhookClient(app, tenant.key).createSubscription({ name: "board", url: receiver.url("/secret-path?token=abc"), eventTypes: ["batch.failed"] });
    await emitEvents(app, tenant.tenantId, [["batch.failed", { batch_id: "bat_board", secret_marker: "do-not-show" }]]);
    const id = (await waitFor(() => receiver.received[0], "attempt 1")).headers["x-attesto-delivery-id"] as string;
    const job = await waitFor(async () => {
      const j = await app.webhooks.engine.queue.getJob(id);
      return j?.data.attempt ? j : undefined;
    }, "the retried job");
    const host = new URL(receiver.url()).host;
    expect(job.name).toBe(`batch.failed → ${host}`);
    expect(job.data).toEqual({
      deliveryId: id,
      tenantId: tenant.tenantId,
      eventType: "batch.failed",
      endpointHost: host,
      subscriptionId: expect.stringMatching(/^sub_/),
      attempt: "1 of 2",
      last: "HTTP 503",
    });

    const listed = await (await board("/api/queues?activeQueue=webhook-deliveries&status=delayed", ADMIN_TOKEN)).text();
    expect(listed).toContain(`batch.failed → ${host}`);
    expect(listed).toContain("1 of 2");
    expect(listed).not.toContain("do-not-show");
    expect(listed).not.toContain("secret-path");
  });

  it("loads nothing from another host, so it works offline", async () => {
    const res = await board("", ADMIN_TOKEN);
    const html = await res.text();
    expect(html).toContain("<html");
    expect(html).not.toMatch(/https?:\/\//);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
  });

  it("lets the viewer token look but not change jobs", async () => {
    expect((await board("", VIEWER_TOKEN)).status).toBe(200);
    expect((await board("/api/queues", VIEWER_TOKEN)).status).toBe(200);
    const retry = await board("/api/queues/webhook-deliveries/retry/failed", VIEWER_TOKEN, "PUT");
    expect(retry.status).toBe(403);
    expect(((await retry.json()) as { error: { code: string } }).error.code).toBe("permission_denied");
    expect((await board("/api/queues/webhook-deliveries/retry/failed", ADMIN_TOKEN, "PUT")).status).not.toBe(403);
    expect((await board("/api/queues", "nope-not-a-token-at-all")).status).toBe(401);
  });
});
