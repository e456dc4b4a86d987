import { timestampDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatus } from "../gen/ts/attesto/v1/webhook_pb.js";
import type { Attesto } from "../src/server/app.js";
import { inversions, seenOf, type Seen } from "./support/ordering.js";
import { newTenant } from "./support/server.js";
import { emitEvents, isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Store } from "./support/webhooks.js";

/**
 * Ordered delivery (issue 27 item 6) against a receiver on loopback that
 * records the order it is sent in, with two instances working one queue:
 * no inversion while an earlier delivery retries, other keys not held
 * back, and the bound releasing a waiting delivery, marked as such.
 */
let store: Store;
const apps: Attesto[] = [];
let rec: Receiver;

// Up to 16 attempts 300 ms apart: room for a delivery that fails until something else happened.
const SCHEDULE = [0, ...Array.from({ length: 15 }, () => 300)];

beforeAll(async () => {
  store = await isolatedStore("ordered");
  for (let i = 0; i < 2; i++) apps.push(await startWebhookServer(store, { webhookRetrySchedule: SCHEDULE, dbPoolSize: 4, webhookOutboxPollMs: 50 }));
  rec = await Receiver.start();
});
afterAll(async () => {
  await rec?.close();
  for (const app of apps) await app.stop();
  await store?.drop();
});

type Checkpointed = ["proofstream.checkpointed", Record<string, unknown>];
const checkpointed = (stream: string, n: number): Checkpointed => ["proofstream.checkpointed", { stream_id: stream, tree_size: n }];

/** Events 1..n of each stream, interleaved: A1, B1, C1, A2, … */
const interleaved = (streams: string[], n: number): Checkpointed[] => Array.from({ length: n }, (_, i) => streams.map((s) => checkpointed(s, i + 1))).flat();

describe("ordered delivery", () => {
  it("sends no delivery of a stream while an earlier one retries, and holds no other stream back", async () => {
    const [a, b] = apps as [Attesto, Attesto];
    const tenant = await newTenant(a.url);
    const client = webhookClient(a, tenant.key);
    const path = "/in-order";
    const { subscription } = await client.createSubscription({ name: "ordered", url: rec.url(path), eventTypes: ["proofstream.checkpointed"], ordered: true });
    expect([subscription!.ordered, subscription!.orderingBoundSeconds]).toEqual([true, 600]);
    const [A, B, C] = ["str_A_in_order", "str_B_in_order", "str_C_in_order"];
    const seen: Seen[] = [];
    let failedA2 = 0;
    rec.respond = (req) => {
      if (!req.url.endsWith(path)) return { status: 204 };
      const s = seenOf(req, true);
      // A#2 fails its first two attempts, and after that until all of C was delivered: C is not held behind A.
      const fail = s.stream === A && s.n === 2 && (failedA2 < 2 || seen.filter((x) => x.stream === C && x.ok).length < 6);
      if (fail) failedA2++;
      seen.push({ ...s, ok: !fail });
      return { status: fail ? 500 : 204 };
    };
    // Half the events enter through each instance, in one transaction each: A, B, C 1..3 through a, 4..6 through b.
    await emitEvents(a, tenant.tenantId, interleaved([A, B, C], 3));
    await emitEvents(
      b,
      tenant.tenantId,
      interleaved([A, B, C], 3).map(([type, data]) => [type, { ...data, tree_size: (data.tree_size as number) + 3 }] as Checkpointed),
    );
    await waitFor(
      async () => (await client.listDeliveries({ subscriptionId: subscription!.id, status: DeliveryStatus.SUCCEEDED, pageSize: 100 })).deliveries.length === 18,
      "every ordered delivery",
      60_000,
      100,
    );

    expect(inversions(seen)).toEqual([]);
    expect(failedA2).toBeGreaterThanOrEqual(2);
    expect(seen.filter((s) => s.ok)).toHaveLength(18);
    expect(new Set(seen.map((s) => s.ordering))).toEqual(new Set(["in_order"]));
    // A#3..6 came after A#2's retries, and were held meanwhile: each says since when.
    const a3 = seen.find((s) => s.stream === A && s.n === 3)!;
    const held = (await client.getDelivery({ deliveryId: a3.deliveryId })).delivery!;
    expect(held.ordering).toBe("in_order");
    expect(held.orderingKey).toBe(`stream:${A}`);
    expect(held.heldSince).toBeDefined();
    // C was delivered whole while A#2 was still failing.
    const lastC = seen.findLastIndex((s) => s.stream === C);
    const a2Delivered = seen.findIndex((s) => s.stream === A && s.n === 2 && s.ok);
    expect(lastC).toBeLessThan(a2Delivered);
  }, 90_000);

  it("sends a held delivery once its bound ran out, marked released_after_bound", async () => {
    const [a] = apps as [Attesto, Attesto];
    const tenant = await newTenant(a.url);
    const client = webhookClient(a, tenant.key);
    const path = "/bounded";
    const { subscription } = await client.createSubscription({ name: "bounded", url: rec.url(path), eventTypes: ["proofstream.checkpointed"], ordered: true, orderingBoundSeconds: 1 });
    expect(subscription!.orderingBoundSeconds).toBe(1);
    const X = "str_X_bounded";
    const seen: Seen[] = [];
    rec.respond = (req) => {
      if (!req.url.endsWith(path)) return { status: 204 };
      const s = seenOf(req, true);
      // X#1 keeps failing until X#2 arrived: only the bound can let X#2 go.
      const fail = s.n === 1 && !seen.some((x) => x.n === 2);
      seen.push({ ...s, ok: !fail });
      return { status: fail ? 503 : 204 };
    };
    await emitEvents(a, tenant.tenantId, [checkpointed(X, 1), checkpointed(X, 2)]);
    await waitFor(
      async () => (await client.listDeliveries({ subscriptionId: subscription!.id, status: DeliveryStatus.SUCCEEDED, pageSize: 10 })).deliveries.length === 2,
      "both deliveries",
      60_000,
      100,
    );

    const second = seen.find((s) => s.n === 2)!;
    // X#2 came while X#1 was still failing, and said so.
    expect(seen.findIndex((s) => s.n === 1 && s.ok)).toBeGreaterThan(seen.indexOf(second));
    expect(second.ordering).toBe("released_after_bound");
    expect(seen.filter((s) => s.n === 1).every((s) => s.ordering === "in_order")).toBe(true);
    const released = (await client.getDelivery({ deliveryId: second.deliveryId })).delivery!;
    expect(released.ordering).toBe("released_after_bound");
    // It was held for the bound (1 s) before its first attempt.
    const heldMs = timestampDate(released.attempts[0]!.startedAt!).getTime() - timestampDate(released.heldSince!).getTime();
    expect(heldMs).toBeGreaterThanOrEqual(1_000);
    const first = (await client.getDelivery({ deliveryId: seen.find((s) => s.n === 1)!.deliveryId })).delivery!;
    expect([first.ordering, first.heldSince]).toEqual(["in_order", undefined]);
  }, 60_000);

  it("sends a held delivery at once when ordering is turned off, unordered", async () => {
    const [a] = apps as [Attesto, Attesto];
    const tenant = await newTenant(a.url);
    const client = webhookClient(a, tenant.key);
    const path = "/turned-off";
    const { subscription } = await client.createSubscription({ name: "off", url: rec.url(path), eventTypes: ["proofstream.checkpointed"], ordered: true });
    const Y = "str_Y_off";
    const seen: Seen[] = [];
    rec.respond = (req) => {
      if (!req.url.endsWith(path)) return { status: 204 };
      const s = seenOf(req, true);
      // Y#1 keeps failing until Y#2 arrived: with the default bound (10 min), only turning ordering off lets Y#2 go.
      const fail = s.n === 1 && !seen.some((x) => x.n === 2);
      seen.push({ ...s, ok: !fail });
      return { status: fail ? 503 : 204 };
    };
    await emitEvents(a, tenant.tenantId, [checkpointed(Y, 1), checkpointed(Y, 2)]);
    const held = await waitFor(async () => {
      const page = await client.listDeliveries({ subscriptionId: subscription!.id, pageSize: 10 });
      const second = page.deliveries.find((d) => (d.data?.tree_size as number | undefined) === 2);
      return second && (await client.getDelivery({ deliveryId: second.id })).delivery!.heldSince ? second : undefined;
    }, "Y#2 held");
    expect(seen.some((s) => s.n === 2)).toBe(false);
    await client.updateSubscription({ subscriptionId: subscription!.id, ordered: false, updateMask: { paths: ["ordered"] } });
    await waitFor(() => seen.some((s) => s.n === 2), "Y#2 sent");
    expect(seen.find((s) => s.n === 2)!.ordering).toBe("");
    const after = (await client.getDelivery({ deliveryId: held.id })).delivery!;
    expect([after.ordering, after.orderingKey]).toEqual(["", ""]);
  }, 60_000);

  it("takes ordered and the bound on create and update, by RPC and REST; a bad bound is refused naming the field", async () => {
    const [a] = apps as [Attesto, Attesto];
    const tenant = await newTenant(a.url);
    const client = webhookClient(a, tenant.key);
    const { subscription } = await client.createSubscription({ name: "plain", url: rec.url("/plain"), eventTypes: ["proofstream.checkpointed"] });
    expect([subscription!.ordered, subscription!.orderingBoundSeconds]).toEqual([false, 600]);
    const on = await client.updateSubscription({ subscriptionId: subscription!.id, ordered: true, orderingBoundSeconds: 30, updateMask: { paths: ["ordered", "ordering_bound_seconds"] } });
    expect([on.subscription!.ordered, on.subscription!.orderingBoundSeconds]).toEqual([true, 30]);
    const rpcBad = await client.updateSubscription({ subscriptionId: subscription!.id, orderingBoundSeconds: 604_801, updateMask: { paths: ["ordering_bound_seconds"] } }).catch((e: unknown) => e);
    expect(String(rpcBad)).toContain("ordering_bound_seconds");

    const headers = { "content-type": "application/json", authorization: `Bearer ${tenant.key}` };
    const created = await fetch(`${a.url}/v1/webhooks`, {
      method: "POST",
      headers,
      body: JSON.stringify({ name: "rest", url: rec.url("/rest"), eventTypes: ["proofstream.checkpointed"], ordered: true, orderingBoundSeconds: 5 }),
    });
    const body = (await created.json()) as { id: string; ordered: boolean; orderingBoundSeconds: number };
    expect([created.status, body.ordered, body.orderingBoundSeconds]).toEqual([201, true, 5]);
    const patched = await fetch(`${a.url}/v1/webhooks/${body.id}`, { method: "PATCH", headers, body: JSON.stringify({ ordered: false }) });
    expect(((await patched.json()) as { ordered: boolean }).ordered).toBe(false);
    for (const bad of [-1, 604_801, 1.5, "10", true]) {
      const res = await fetch(`${a.url}/v1/webhooks/${body.id}`, { method: "PATCH", headers, body: JSON.stringify({ orderingBoundSeconds: bad }) });
      const err = (await res.json()) as { error?: { field?: string } };
      expect([res.status, err.error?.field], String(bad)).toEqual([400, "orderingBoundSeconds"]);
    }
    const badOrdered = await fetch(`${a.url}/v1/webhooks/${body.id}`, { method: "PATCH", headers, body: JSON.stringify({ ordered: "yes" }) });
    expect([badOrdered.status, ((await badOrdered.json()) as { error?: { field?: string } }).error?.field]).toEqual([400, "ordered"]);
  }, 30_000);
});
