import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatus } from "../gen/ts/attesto/v1/webhook_pb.js";
import type { Attesto } from "../src/server/app.js";
import { newTenant } from "./support/server.js";
import { emitEvents, isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Store } from "./support/webhooks.js";

/**
 * max_deliveries_per_second holds across instances: two servers work one
 * queue, and a receiver on loopback measures the rate it is sent at.
 */
let store: Store;
const apps: Attesto[] = [];
let rec: Receiver;

beforeAll(async () => {
  store = await isolatedStore("throttle");
  for (let i = 0; i < 2; i++) apps.push(await startWebhookServer(store, { webhookRetrySchedule: [0, 200], dbPoolSize: 4, webhookOutboxPollMs: 50 }));
  rec = await Receiver.start();
});
afterAll(async () => {
  await rec?.close();
  for (const app of apps) await app.stop();
  await store?.drop();
});

const bundleReady = (n: number) => ({
  stream_id: "str_01J0000000000000000000000A",
  bundle_id: `bundle_01J0000000000000000000${String(n).padStart(4, "0")}`,
  from_seq_no: 1,
  to_seq_no: n,
  verification_url: "https://verify.attesto.eu/v2/verify",
  verification_url_shared: false,
});

describe("per-subscription throttle", () => {
  it("two instances together send a throttled subscription's deliveries within 10 % of its limit; another subscription is not held back", async () => {
    const [a, b] = apps as [Attesto, Attesto];
    const tenant = await newTenant(a.url);
    const client = webhookClient(a, tenant.key);
    const limit = 10;
    const count = 40;
    const { subscription } = await client.createSubscription({ name: "throttled", url: `${rec.url()}/throttled`, eventTypes: ["proofstream.bundle_ready"], maxDeliveriesPerSecond: limit });
    expect(subscription!.maxDeliveriesPerSecond).toBe(limit);
    const free = await client.createSubscription({ name: "free", url: `${rec.url()}/free`, eventTypes: ["proofstream.bundle_ready"] });
    // Half the events enter through each instance.
    const events = Array.from({ length: count }, (_, i) => ["proofstream.bundle_ready", bundleReady(i + 1)] as ["proofstream.bundle_ready", Record<string, unknown>]);
    await Promise.all([emitEvents(a, tenant.tenantId, events.slice(0, count / 2)), emitEvents(b, tenant.tenantId, events.slice(count / 2))]);
    await waitFor(
      async () => (await client.listDeliveries({ subscriptionId: subscription!.id, status: DeliveryStatus.SUCCEEDED, pageSize: 100 })).deliveries.length === count,
      "every throttled delivery",
      60_000,
      250,
    );
    const throttled = rec.received.filter((r) => r.url.endsWith("/throttled")).map((r) => r.at);
    const unthrottled = rec.received.filter((r) => r.url.endsWith("/free")).map((r) => r.at);
    expect(throttled).toHaveLength(count);
    const spanS = (Math.max(...throttled) - Math.min(...throttled)) / 1000;
    const rate = (count - 1) / spanS;
    console.log(`throttle: ${count} deliveries at limit ${limit}/s over two instances: ${rate.toFixed(2)}/s (span ${spanS.toFixed(2)} s)`);
    expect(Math.abs(rate - limit) / limit).toBeLessThanOrEqual(0.1);
    // The other subscription's deliveries were all sent well before the throttled ones ended.
    expect(unthrottled).toHaveLength(count);
    expect(Math.max(...unthrottled)).toBeLessThan(Math.max(...throttled) - 1_000);
    expect(free.subscription!.maxDeliveriesPerSecond).toBe(0);
  }, 90_000);

  it("a limit changed by UpdateSubscription holds on every instance", async () => {
    const [a] = apps as [Attesto, Attesto];
    const tenant = await newTenant(a.url);
    const client = webhookClient(a, tenant.key);
    const { subscription } = await client.createSubscription({ name: "later", url: `${rec.url()}/later`, eventTypes: ["proofstream.bundle_ready"] });
    const updated = await client.updateSubscription({ subscriptionId: subscription!.id, maxDeliveriesPerSecond: 5, updateMask: { paths: ["max_deliveries_per_second"] } });
    expect(updated.subscription!.maxDeliveriesPerSecond).toBe(5);
    // (No delivery of it was made before, so no instance holds its old rate in its 2-second cache.)
    await emitEvents(
      a,
      tenant.tenantId,
      Array.from({ length: 11 }, (_, i) => ["proofstream.bundle_ready", bundleReady(100 + i)] as ["proofstream.bundle_ready", Record<string, unknown>]),
    );
    await waitFor(() => rec.received.filter((r) => r.url.endsWith("/later")).length === 11, "the deliveries", 30_000, 100);
    const at = rec.received.filter((r) => r.url.endsWith("/later")).map((r) => r.at);
    const spanS = (Math.max(...at) - Math.min(...at)) / 1000;
    // 11 at 5/s: 10 intervals of 200 ms.
    expect(spanS).toBeGreaterThanOrEqual(1.8);
    expect(10 / spanS).toBeLessThanOrEqual(5 * 1.1);
  }, 60_000);
});
