import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { DeliveryStatus } from "../gen/ts/attesto/v1/webhook_pb.js";
import { payloadSha256 } from "../src/proofstream/leaf.js";
import type { Attesto } from "../src/server/app.js";
import { parseTlogProof } from "../src/verify/tlog-proof.js";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../src/webhooks/event-types.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant } from "./support/server.js";
import { emitEvents, isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Received, type Store } from "./support/webhooks.js";

/**
 * Provable deliveries (every ended attempt in the tenant's deliveries
 * Proofstream), auto-disable, RecoverDeliveries and the event catalogue,
 * against real receivers on loopback. Every body a receiver gets is checked
 * against its type's schema in schemas/events/.
 */
let store: Store;
let app: Attesto;
const receivers: Receiver[] = [];
const received: Received[] = [];

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
const schemas = new Map<string, ValidateFunction>(
  WEBHOOK_EVENT_TYPES.map((type) => [type, ajv.compile(JSON.parse(readFileSync(path.join(import.meta.dirname, "..", "schemas", "events", `${type}.schema.json`), "utf8")) as object)]),
);

beforeAll(async () => {
  store = await isolatedStore("proofs");
  app = await startWebhookServer(store, {
    webhookRetrySchedule: [0, 200],
    webhookTimeoutMs: 1_500,
    webhookRelayIntervalMs: 1_000,
    webhookRelayGraceMs: 5_000,
    webhookDeliveryProofs: true,
    webhookDisableAfterFailedDeliveries: 4,
    webhookProofSweepMs: 1_000,
    dbPoolSize: 6,
  });
});
afterAll(async () => {
  // Every body any receiver got has its type's shape.
  for (const r of received) {
    const body = JSON.parse(r.body.toString("utf8")) as { event: string; data: unknown };
    const validate = schemas.get(body.event)!;
    expect(validate(body.data), `${body.event}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  }
  await Promise.all(receivers.map((r) => r.close()));
  await app?.stop();
  await store?.drop();
});

async function receiver() {
  const r = await Receiver.start();
  receivers.push(r);
  const respond = r.respond;
  r.respond = (req, i) => {
    received.push(req);
    return respond(req, i);
  };
  return r;
}

/** A receiver whose answer the test sets as it goes. */
async function scripted(answer: (body: { id: string; data: Record<string, unknown> }, req: Received) => number) {
  const r = await receiver();
  r.respond = (req) => {
    received.push(req);
    return { status: answer(JSON.parse(req.body.toString("utf8")) as { id: string; data: Record<string, unknown> }, req), body: "answer-body" };
  };
  return r;
}

const bundleReady = (n: number) => ({
  stream_id: "str_01J0000000000000000000000A",
  bundle_id: `bundle_01J00000000000000000000${String(n).padStart(3, "0")}`,
  from_seq_no: 1,
  to_seq_no: n,
  verification_url: "https://verify.attesto.eu/v2/verify",
  verification_url_shared: false,
});

const emit = (tenantId: string, n: number, type: WebhookEventType = "proofstream.bundle_ready") => emitEvents(app, tenantId, [[type, bundleReady(n)]]);
const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

describe("provable deliveries", () => {
  it("commits every attempt to the tenant's deliveries Proofstream and proves it with a tlog-proof", async () => {
    const tenant = await newTenant(app.url);
    const client = webhookClient(app, tenant.key);
    let calls = 0;
    const rec = await scripted(() => (++calls === 1 ? 503 : 200));
    const { subscription } = await client.createSubscription({ name: "proofs", url: rec.url(), eventTypes: ["proofstream.bundle_ready"] });
    await emit(tenant.tenantId, 1);
    const { id } = await waitFor(
      async () => (await client.listDeliveries({ subscriptionId: subscription!.id })).deliveries.find((d) => d.status === DeliveryStatus.SUCCEEDED),
      "the delivery to succeed",
    );
    // Both attempts committed (a moment after they ended, off the dispatch path).
    const committed = await waitFor(async () => {
      const d = (await client.getDelivery({ deliveryId: id })).delivery!;
      return d.attempts.length === 2 && d.attempts.every((a) => a.seqNo > 0n) ? d : undefined;
    }, "both attempts in the deliveries Proofstream");
    const streamId = committed.attempts[0]!.proofStreamId;
    expect(streamId).toMatch(/^str_/);
    const proofs = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await proofs.getStream({ streamId });
    expect(stream!.name).toBe("webhook deliveries");
    // Signed now if the periodic signer has not covered both attempts yet.
    await proofs.createCheckpoint({ streamId });
    const { checkpoint } = await proofs.getCheckpoint({ streamId });

    const proven = (await client.getDelivery({ deliveryId: id })).delivery!;
    const sentBody = rec.received[0]!.body;
    expect(proven.attempts.map((a) => [a.number, a.statusCode, a.urlHost])).toEqual([
      [1, 503, new URL(rec.url()).host],
      [2, 200, new URL(rec.url()).host],
    ]);
    for (const attempt of proven.attempts) {
      expect(attempt.bodySha256).toBe(sha256(sentBody));
      expect(attempt.responseSha256).toBe(sha256("answer-body"));
      const proof = parseTlogProof(attempt.tlogProof);
      expect(proof.index).toBe(Number(attempt.seqNo) - 1);
      expect(proof.checkpoint).toBe(checkpoint!.note);
      // The leaf commits to the attempt's event, whose payload says what was sent and answered.
      const leaf = JSON.parse(Buffer.from(proof.extra!).toString("utf8")) as Record<string, unknown>;
      const { event } = await proofs.getEvent({ streamId, event: { case: "seqNo", value: attempt.seqNo } });
      const payload = event!.payload as Record<string, unknown>;
      expect(leaf).toMatchObject({ source_ref: `${id}#${attempt.number}`, event_type: "webhook.attempt", payload_sha256: payloadSha256(payload as never) });
      expect(payload).toMatchObject({
        delivery_id: id,
        subscription_id: subscription!.id,
        attempt: attempt.number,
        status_code: attempt.statusCode,
        error_kind: attempt.number === 1 ? "http_status" : "none",
        body_sha256: sha256(sentBody),
        response_sha256: sha256("answer-body"),
        url_host: new URL(rec.url()).host,
      });
    }
    // A bundle of the deliveries stream is a bundle like any other.
    const { bundle } = await proofs.createBundle({ streamId, fromSeqNo: 1n, toSeqNo: proven.attempts[1]!.seqNo });
    expect(bundle!.id).toMatch(/^bundle_/);
  });

  it("sends no checkpoint of the deliveries Proofstream as a webhook (each would grow the stream again: a loop)", async () => {
    const tenant = await newTenant(app.url);
    const client = webhookClient(app, tenant.key);
    const rec = await scripted(() => 204);
    const { subscription } = await client.createSubscription({ name: "loop", url: rec.url(), eventTypes: ["proofstream.bundle_ready", "proofstream.checkpointed"] });
    await emit(tenant.tenantId, 3);
    const attempt = await waitFor(async () => {
      const [d] = (await client.listDeliveries({ subscriptionId: subscription!.id })).deliveries;
      return d?.status === DeliveryStatus.SUCCEEDED ? (await client.getDelivery({ deliveryId: d.id })).delivery!.attempts.find((a) => a.seqNo > 0n) : undefined;
    }, "the attempt committed");
    const proofs = clientFor(ProofstreamService, app.url, tenant.key);
    // The checkpoint covering the attempt is signed (and its event emitted, or not) before this answers.
    await proofs.createCheckpoint({ streamId: attempt.proofStreamId });
    const types = async () => (await client.listDeliveries({ subscriptionId: subscription!.id })).deliveries.map((d) => d.eventType).sort();
    expect(await types()).toEqual(["proofstream.bundle_ready"]);
    // Another stream's checkpoint is sent as ever.
    const { stream } = await proofs.createStream({ name: "other" });
    await proofs.appendEvent(appendRequest(stream!.id, "one"));
    await proofs.createCheckpoint({ streamId: stream!.id });
    expect(await types()).toEqual(["proofstream.bundle_ready", "proofstream.checkpointed"]);
  });

  it("the sweep commits an attempt the process did not (from its rows, the same event)", async () => {
    const tenant = await newTenant(app.url);
    const client = webhookClient(app, tenant.key);
    const rec = await scripted(() => 204);
    const { subscription } = await client.createSubscription({ name: "sweep", url: rec.url(), eventTypes: ["proofstream.bundle_ready"] });
    await emit(tenant.tenantId, 2);
    const delivery = await waitFor(async () => (await client.listDeliveries({ subscriptionId: subscription!.id })).deliveries.find((d) => d.status === DeliveryStatus.SUCCEEDED), "the delivery");
    const first = await waitFor(async () => (await client.getDelivery({ deliveryId: delivery!.id })).delivery!.attempts.find((a) => a.seqNo > 0n), "the attempt committed");
    // As if the process had stopped before committing it: the row forgets its seq_no; the sweep finds the same event again.
    await app.database.db.execute(sql`UPDATE webhook_attempts SET seq_no = NULL WHERE delivery_id = ${delivery!.id}`);
    const again = await waitFor(async () => (await client.getDelivery({ deliveryId: delivery!.id })).delivery!.attempts.find((a) => a.seqNo > 0n), "the sweep", 15_000, 200);
    expect(again.seqNo).toBe(first.seqNo);
    expect(again.proofStreamId).toBe(first.proofStreamId);
  });
});

describe("auto-disable", () => {
  it("disables a subscription after N failed deliveries, tells the tenant's other subscriptions, and re-enabling requeues nothing", async () => {
    const tenant = await newTenant(app.url);
    const client = webhookClient(app, tenant.key);
    const failing = await scripted(() => 500);
    const watcher = await scripted(() => 204);
    const { subscription: sub } = await client.createSubscription({ name: "failing", url: failing.url(), eventTypes: ["proofstream.bundle_ready"] });
    await client.createSubscription({ name: "watcher", url: watcher.url(), eventTypes: ["subscription.disabled"] });
    for (const n of [10, 11, 12, 13]) await emit(tenant.tenantId, n);
    const disabled = await waitFor(async () => {
      const s = (await client.getSubscription({ subscriptionId: sub!.id })).subscription!;
      return s.enabled ? undefined : s;
    }, "the subscription to be disabled");
    expect(disabled.disabledReason).toBe("failing");
    expect(disabled.consecutiveFailedDeliveries).toBe(4);
    expect(disabled.failingSince).toBeDefined();
    const notice = await waitFor(() => watcher.received.find((r) => r.headers["x-attesto-event"] === "subscription.disabled"), "the subscription.disabled event");
    const body = JSON.parse(notice.body.toString("utf8")) as { data: Record<string, unknown> };
    expect(body.data).toMatchObject({ subscription_id: sub!.id, name: "failing", url_host: new URL(failing.url()).host, reason: "failing", consecutive_failed_deliveries: 4 });
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(Number(/^attesto_webhook_subscriptions_auto_disabled_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);

    // Re-enabled: the counters start again and nothing is re-sent by itself.
    const sentBefore = failing.received.length;
    failing.respond = (req) => (received.push(req), { status: 204 });
    const enabled = (await client.updateSubscription({ subscriptionId: sub!.id, enabled: true, updateMask: { paths: ["enabled"] } })).subscription!;
    expect([enabled.enabled, enabled.disabledReason, enabled.consecutiveFailedDeliveries, enabled.failingSince]).toEqual([true, "", 0, undefined]);
    // A new event is delivered; the failed ones stay failed (the new one is the only one sent after re-enabling).
    await emit(tenant.tenantId, 14);
    await waitFor(() => failing.received.length > sentBefore, "the new event");
    const deliveries = (await client.listDeliveries({ subscriptionId: sub!.id })).deliveries;
    expect(deliveries.filter((d) => d.status === DeliveryStatus.FAILED)).toHaveLength(4);
    await waitFor(async () => (await client.listDeliveries({ subscriptionId: sub!.id, status: DeliveryStatus.SUCCEEDED })).deliveries.length === 1, "the new delivery");
    expect(failing.received.length).toBe(sentBefore + 1);
    expect(JSON.parse(failing.received.at(-1)!.body.toString("utf8")).data.to_seq_no).toBe(14);
  });
});

describe("auto-disable after failing for a time", () => {
  it("disables a subscription whose every attempt failed for ATTESTO_WEBHOOK_DISABLE_AFTER_FAILING_MS, before any delivery ended failed", async () => {
    // A server of its own: failing for 1.5 s disables, the count of failed deliveries does not.
    const own = await isolatedStore("failing_for");
    const server = await startWebhookServer(own, {
      webhookRetrySchedule: [0, ...Array<number>(20).fill(300)],
      webhookTimeoutMs: 1_500,
      webhookDeliveryProofs: true,
      webhookDisableAfterFailedDeliveries: 0,
      webhookDisableAfterFailingMs: 1_500,
      webhookProofSweepMs: 1_000,
      dbPoolSize: 4,
    });
    try {
      const tenant = await newTenant(server.url);
      const client = webhookClient(server, tenant.key);
      const failing = await scripted(() => 500);
      const { subscription: sub } = await client.createSubscription({ name: "failing for", url: failing.url(), eventTypes: ["proofstream.bundle_ready"] });
      await emitEvents(server, tenant.tenantId, [["proofstream.bundle_ready", bundleReady(30)]]);
      const disabled = await waitFor(
        async () => {
          const s = (await client.getSubscription({ subscriptionId: sub!.id })).subscription!;
          return s.enabled ? undefined : s;
        },
        "the subscription to be disabled",
        30_000,
        200,
      );
      expect(disabled.disabledReason).toBe("failing");
      // One delivery, still within its 21 attempts: no delivery had ended failed.
      expect(disabled.consecutiveFailedDeliveries).toBe(0);
      const failingFor = Date.now() - timestampDate(disabled.failingSince!).getTime();
      expect(failingFor).toBeGreaterThanOrEqual(1_500);
      const attempts = failing.received.length;
      expect(attempts).toBeGreaterThanOrEqual(2);
      expect(attempts).toBeLessThan(21);
    } finally {
      await server.stop();
      await own.drop();
    }
  }, 60_000);
});

describe("RecoverDeliveries", () => {
  it("re-sends only the failed deliveries of the window, as new attempts of the same ids, once", async () => {
    const tenant = await newTenant(app.url);
    const client = webhookClient(app, tenant.key);
    // to_seq_no 21..24; 24 succeeds at once; the others fail until the receiver is fixed.
    let fixed = false;
    const rec = await scripted((body) => (fixed || body.data.to_seq_no === 24 ? 200 : 500));
    const { subscription } = await client.createSubscription({ name: "recover", url: rec.url(), eventTypes: ["proofstream.bundle_ready"] });
    const subscriptionId = subscription!.id;
    await emit(tenant.tenantId, 21);
    await waitFor(async () => (await client.listDeliveries({ subscriptionId, status: DeliveryStatus.FAILED })).deliveries.length === 1, "the delivery before the window to fail");
    const since = new Date();
    await new Promise((r) => setTimeout(r, 5));
    for (const n of [22, 23, 24]) await emit(tenant.tenantId, n);
    await waitFor(async () => {
      const all = (await client.listDeliveries({ subscriptionId })).deliveries;
      return all.length === 4 && all.every((d) => d.status !== DeliveryStatus.PENDING);
    }, "the deliveries of the window to end");
    fixed = true;
    const before = rec.received.length;
    const first = await client.recoverDeliveries({ subscriptionId, since: timestampFromDate(since) });
    expect(first.recoveredCount).toBe(2);
    expect(first.more).toBe(false);
    const second = await client.recoverDeliveries({ subscriptionId, since: timestampFromDate(since) });
    expect(second.recoveredCount).toBe(0);
    await waitFor(async () => (await client.listDeliveries({ subscriptionId, status: DeliveryStatus.SUCCEEDED })).deliveries.length === 3, "the recovered deliveries");
    const resent = rec.received.slice(before).map((r) => JSON.parse(r.body.toString("utf8")) as { id: string; data: { to_seq_no: number } });
    expect(resent.map((b) => b.data.to_seq_no).sort()).toEqual([22, 23]);
    expect(resent.map((b) => b.id).sort()).toEqual([...first.deliveryIds].sort());
    for (const id of first.deliveryIds) {
      const d = (await client.getDelivery({ deliveryId: id })).delivery!;
      expect(d.attempts.map((a) => a.statusCode)).toEqual([500, 500, 200]);
    }
    // The one before the window stays failed; recovering again sends nothing.
    expect((await client.listDeliveries({ subscriptionId, status: DeliveryStatus.FAILED })).deliveries.map((d) => d.id)).toHaveLength(1);
    expect((await client.recoverDeliveries({ subscriptionId, since: timestampFromDate(since) })).recoveredCount).toBe(0);
  });

  it("refuses a disabled subscription, a window that ends before it starts, and another tenant's subscription", async () => {
    const tenant = await newTenant(app.url);
    const client = webhookClient(app, tenant.key);
    const rec = await receiver();
    const { subscription } = await client.createSubscription({ name: "r", url: rec.url(), eventTypes: ["proofstream.bundle_ready"] });
    const since = timestampFromDate(new Date(Date.now() - 60_000));
    const code = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (err: unknown) => [ConnectError.from(err).code, ConnectError.from(err).rawMessage],
      );
    expect(await code(client.recoverDeliveries({ subscriptionId: subscription!.id, since, until: timestampFromDate(new Date(Date.now() - 120_000)) }))).toEqual([
      Code.InvalidArgument,
      expect.stringContaining("after since"),
    ]);
    expect(await code(client.recoverDeliveries({ subscriptionId: subscription!.id }))).toEqual([Code.InvalidArgument, expect.stringContaining("since")]);
    const other = webhookClient(app, (await newTenant(app.url)).key);
    expect((await code(other.recoverDeliveries({ subscriptionId: subscription!.id, since })))[0]).toBe(Code.NotFound);
    await client.updateSubscription({ subscriptionId: subscription!.id, enabled: false, updateMask: { paths: ["enabled"] } });
    expect((await code(client.recoverDeliveries({ subscriptionId: subscription!.id, since })))[0]).toBe(Code.FailedPrecondition);
  });
});

describe("the event catalogue", () => {
  it("ListEventTypes and GET /v1/event-types give each type's schema, example and version; real sample bodies match the schemas", async () => {
    const tenant = await newTenant(app.url);
    const client = webhookClient(app, tenant.key);
    const { eventTypes } = await client.listEventTypes({});
    expect(eventTypes.map((e) => e.name)).toEqual([...WEBHOOK_EVENT_TYPES]);
    const rest = (await (await fetch(`${app.url}/v1/event-types`, { headers: { Authorization: `Bearer ${tenant.key}` } })).json()) as {
      eventTypes: Array<{ name: string; dataSchema: { $id: string } }>;
    };
    expect(rest.eventTypes.map((e) => e.dataSchema.$id)).toEqual(eventTypes.map((e) => (e.dataSchema as { $id: string }).$id));
    const openapi = (await (await fetch(`${app.url}/openapi.json`)).json()) as { components: { schemas: Record<string, { $id?: string }> } };
    for (const type of WEBHOOK_EVENT_TYPES) expect(openapi.components.schemas[`EventData_${type}`]?.$id, type).toBe(`https://attesto.eu/schemas/events/${type}.schema.json`);
    // A real delivery of every type's sample: each body is checked against its schema (afterAll checks all bodies).
    const rec = await receiver();
    const { subscription } = await client.createSubscription({ name: "catalogue", url: rec.url(), eventTypes: ["batch.failed"] });
    for (const type of WEBHOOK_EVENT_TYPES) await client.sendTestEvent({ subscriptionId: subscription!.id, eventType: type });
    await waitFor(() => rec.received.length >= WEBHOOK_EVENT_TYPES.length, "every sample");
    const types = rec.received.map((r) => r.headers["x-attesto-event"]);
    expect(new Set(types)).toEqual(new Set(WEBHOOK_EVENT_TYPES));
  });
});
