import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import type { Attesto } from "../src/server/app.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant } from "./support/server.js";
import { decodeTraces, type ExportedSpan } from "./support/otlp.js";
import { isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Store } from "./support/webhooks.js";

/**
 * Tracing on, against an OTLP/HTTP collector on loopback (a receiver that
 * decodes the protobuf exports): one AppendEvent, the periodic checkpoint
 * that covers it, the webhook delivery that checkpoint emits through the
 * outbox and BullMQ, and its attempt are one trace; the receiver gets the
 * attempt's span as its traceparent.
 */
let store: Store;
let app: Attesto;
let collector: Receiver;
let hooks: Receiver;

beforeAll(async () => {
  store = await isolatedStore("tracing");
  collector = await Receiver.start();
  collector.respond = () => ({ status: 200, headers: { "content-type": "application/x-protobuf" } });
  hooks = await Receiver.start();
  app = await startWebhookServer(store, {
    tracing: { tracesUrl: collector.url("/v1/traces"), serviceName: "attesto-test" },
    webhookTraceparent: true,
    checkpointIntervalMs: 200,
  });
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await collector?.close();
  await hooks?.close();
  await store?.drop();
});

const exported = (): ExportedSpan[] => collector.received.flatMap((r) => decodeTraces(r.body));

describe("OpenTelemetry tracing", () => {
  it("one AppendEvent → group commit → checkpoint → outbox → BullMQ job → delivery attempt is one trace", async () => {
    const tenant = await newTenant(app.url);
    await webhookClient(app, tenant.key).createSubscription({ name: "traced", url: hooks.url(), eventTypes: ["proofstream.checkpointed"] });
    const proofstreams = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await proofstreams.createStream({ name: "traced" });
    await proofstreams.appendEvent(appendRequest(stream!.id, "traced-1"));

    const delivery = await waitFor(() => hooks.received.find((r) => r.body.toString().includes(stream!.id)), "the checkpoint's delivery", 30_000);
    const traceparent = String(delivery.headers.traceparent ?? "");
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const [, traceId, postSpanId] = traceparent.split("-");

    const names = [
      "attesto.v1.ProofstreamService/AppendEvent",
      "proofstream.append",
      "proofstream.checkpoint",
      "proofstream.checkpoint commit",
      "process webhook-deliveries",
      "webhook.claim",
      "webhook.attempt POST",
      "webhook.finish",
    ];
    const spans = await waitFor(
      () => {
        const inTrace = exported().filter((s) => s.traceId === traceId);
        return names.every((name) => inTrace.some((s) => s.name === name)) ? inTrace : undefined;
      },
      "every span of the trace at the collector",
      30_000,
    );
    const byName = (name: string) => spans.find((s) => s.name === name)!;
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(["attesto-test"]));
    // One tree: the RPC is the root, every other span hangs under it.
    const rpc = byName("attesto.v1.ProofstreamService/AppendEvent");
    expect(rpc.parentSpanId).toBe("");
    expect(rpc.kind).toBe(2); // SERVER
    for (const span of spans.filter((s) => s !== rpc)) {
      let at: ExportedSpan | undefined = span;
      const seen = new Set<string>();
      while (at && at.parentSpanId && !seen.has(at.spanId)) {
        seen.add(at.spanId);
        at = byId.get(at.parentSpanId);
      }
      expect(at, `${span.name} reaches the root`).toBe(rpc);
    }
    expect(byName("proofstream.append").parentSpanId).toBe(rpc.spanId);
    expect(byId.get(byName("proofstream.checkpoint").parentSpanId)?.name).toBe("proofstream.append");
    expect(byName("webhook.attempt POST").spanId).toBe(postSpanId);
    expect(byName("webhook.attempt POST").kind).toBe(3); // CLIENT
    expect(byName("process webhook-deliveries").kind).toBe(5); // CONSUMER
    expect(byId.get(byName("webhook.attempt POST").parentSpanId)?.name).toBe("process webhook-deliveries");
  }, 90_000);

  it("continues a caller's traceparent", async () => {
    const tenant = await newTenant(app.url);
    const callerTrace = "0af7651916cd43dd8448eb211c80319c";
    const res = await fetch(`${app.url}/attesto.v1.TenantService/GetCurrentTenant`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tenant.key}`, traceparent: `00-${callerTrace}-b7ad6b7169203331-01` },
      body: "{}",
    });
    expect(res.status).toBe(200);
    const span = await waitFor(() => exported().find((s) => s.traceId === callerTrace), "the RPC's span in the caller's trace", 20_000);
    expect(span).toMatchObject({ name: "attesto.v1.TenantService/GetCurrentTenant", parentSpanId: "b7ad6b7169203331" });
  }, 60_000);
});
