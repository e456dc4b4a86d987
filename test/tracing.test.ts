import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { openDatabase } from "../src/db/db.js";
import { inSpan } from "../src/infra/tracing.js";
import type { Attesto } from "../src/server/app.js";
import { post, seedBody, signedHeaders, signedWebhookConnector, tenantWithStream } from "./support/connectors.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant } from "./support/server.js";
import { decodeTraces, type ExportedSpan } from "./support/otlp.js";
import { isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Store } from "./support/webhooks.js";

/**
 * Tracing on, against an OTLP/HTTP collector on loopback (a receiver that
 * decodes the protobuf exports): one AppendEvent (or one inbound connector
 * request), the periodic checkpoint that covers it, the webhook delivery that
 * checkpoint emits through the outbox and BullMQ, and its attempt are one
 * trace; the receiver gets the
 * attempt's span as its traceparent. The trace holds a client span for each
 * Postgres statement and Redis command sent on the way, with the statement
 * text and command name only: no value sent appears in any export.
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
    const secret = `payload-secret-${randomBytes(8).toString("hex")}`;
    await proofstreams.appendEvent(appendRequest(stream!.id, "traced-1", { secret }));

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
        const statementsIn = (name: string) => inTrace.some((s) => s.attributes["db.system.name"] === "postgresql" && inTrace.find((p) => p.spanId === s.parentSpanId)?.name === name);
        const ids = new Set(inTrace.map((s) => s.spanId));
        const complete =
          inTrace.every((s) => s.parentSpanId === "" || ids.has(s.parentSpanId)) &&
          names.every((name) => inTrace.some((s) => s.name === name)) &&
          ["proofstream.append", "proofstream.checkpoint commit", "webhook.claim"].every(statementsIn) &&
          inTrace.some((s) => s.name === "PUBLISH") &&
          inTrace.some((s) => s.attributes["db.system.name"] === "redis" && inTrace.find((p) => p.spanId === s.parentSpanId)?.name === "addBulk webhook-deliveries");
        return complete ? inTrace : undefined;
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

    // Postgres: a client span per statement, under the span that sent it; the checkpoint's transaction from BEGIN to COMMIT.
    const database = new URL(store.databaseUrl);
    const statements = spans.filter((s) => s.attributes["db.system.name"] === "postgresql");
    for (const s of statements) {
      expect(s.kind, s.name).toBe(3); // CLIENT
      expect(s.attributes).toMatchObject({ "db.namespace": database.pathname.slice(1), "server.address": database.hostname, "server.port": Number(database.port || 5432) });
      expect(s.name).toBe(`${s.attributes["db.operation.name"]} ${s.attributes["db.collection.name"] ?? s.attributes["db.namespace"]}`);
      expect(s.statusCode, s.name).toBe(0);
    }
    const commit = byName("proofstream.checkpoint commit");
    const inCommit = statements.filter((s) => s.parentSpanId === commit.spanId).map((s) => s.attributes["db.operation.name"]);
    expect(inCommit[0]).toBe("BEGIN");
    expect(inCommit.at(-1)).toBe("COMMIT");
    expect(inCommit).toContain("INSERT");
    const checkpointInsert = statements.find((s) => s.parentSpanId === commit.spanId && s.name === "INSERT checkpoints");
    expect(checkpointInsert?.attributes["db.query.text"]).toMatch(/^insert into "checkpoints" .*values \(\$1, \$2/);

    // Redis: a client span per command, ours (the broadcast's PUBLISH) and BullMQ's (adding the delivery job), named by the command alone.
    const commands = spans.filter((s) => s.attributes["db.system.name"] === "redis");
    for (const s of commands) {
      expect(s.kind, s.name).toBe(3);
      expect(Object.keys(s.attributes).sort()).toEqual(["db.namespace", "db.operation.name", "db.system.name", "server.address", "server.port"]);
      expect(s.name).toBe(s.attributes["db.operation.name"]);
    }
    expect(byId.get(byName("PUBLISH").parentSpanId)?.name).toBe("proofstream.checkpoint");
    expect(commands.some((s) => byId.get(s.parentSpanId)?.name === "addBulk webhook-deliveries")).toBe(true);

    // No value sent reaches the collector: neither the event's payload nor the API key, in any span of any export.
    for (const { body } of collector.received) {
      expect(body.includes(secret)).toBe(false);
      expect(body.includes(tenant.key)).toBe(false);
    }
    // (The exports carry attribute values as plain bytes: the stream's id, an attribute of proofstream.append, is there.)
    expect(collector.received.some(({ body }) => body.includes(stream!.id))).toBe(true);
  }, 90_000);

  it("gives statements pipelined in one transaction, a failed statement, and pipelined Redis commands each their own span", async () => {
    // A pool and a Redis of the test's own, in the process whose tracing the server started.
    const database = openDatabase({ url: store.databaseUrl, poolSize: 1 });
    const redis = new Redis(inject("redisUrl"), { enableAutoPipelining: true });
    const secret = `statement-secret-${randomBytes(8).toString("hex")}`;
    const key = `${store.queuePrefix}:tracing-spec`;
    try {
      // Connected outside any span: postgres.js reads pg_type on a new connection, a statement of its own.
      await database.ping();
      const traceIds = new Map<string, string>();
      const traced = (name: string, fn: () => Promise<unknown>) =>
        inSpan(name, {}, async (span) => {
          traceIds.set(name, span!.spanContext().traceId);
          await fn();
        });
      await traced("spec.pipelined", () =>
        database.db.transaction(async (tx) => {
          // Sent together on the transaction's connection before either answers.
          await Promise.all([tx.execute(sql`SELECT ${secret}::text AS a, pg_sleep(0.05)`), tx.execute(sql`SELECT ${secret}::text AS b`)]);
        }),
      );
      await expect(traced("spec.failed", () => database.query(sql`SELECT ${secret}::int`))).rejects.toThrow();
      // Auto-pipelined: both GETs leave in one write, after both spans began; each is its own span's child.
      await Promise.all([traced("spec.redis-a", () => redis.get(key)), traced("spec.redis-b", () => redis.set(key, secret))]);

      const ofTrace = (name: string) => exported().filter((s) => s.traceId === traceIds.get(name));
      const settled = await waitFor(
        () => {
          const [pipelined, failed, a, b] = ["spec.pipelined", "spec.failed", "spec.redis-a", "spec.redis-b"].map(ofTrace);
          return pipelined!.length >= 5 && failed!.length >= 2 && a!.length >= 2 && b!.length >= 2 ? { pipelined: pipelined!, failed: failed!, a: a!, b: b! } : undefined;
        },
        "the spec's spans at the collector",
        20_000,
      );
      const root = (spans: ExportedSpan[]) => spans.find((s) => s.parentSpanId === "")!;
      const pipelinedRoot = root(settled.pipelined);
      const inTransaction = settled.pipelined.filter((s) => s.parentSpanId === pipelinedRoot.spanId).sort((x, y) => x.start - y.start);
      expect(inTransaction.map((s) => s.attributes["db.operation.name"])).toEqual(["BEGIN", "SELECT", "SELECT", "COMMIT"]);
      // The two SELECTs were in flight together (the first sleeps 50 ms), each span its own statement's.
      const [first, second] = inTransaction.slice(1, 3);
      expect(second!.start).toBeLessThan(first!.end);
      expect(first!.attributes["db.query.text"]).toContain("pg_sleep");

      const failed = settled.failed.find((s) => s.attributes["db.system.name"] === "postgresql")!;
      expect(failed.parentSpanId).toBe(root(settled.failed).spanId);
      expect(failed.statusCode).toBe(2); // ERROR
      expect(failed.attributes).toMatchObject({ "error.type": "22P02", "db.response.status_code": "22P02", "db.query.text": "SELECT $1::int" });

      for (const [spans, operation] of [
        [settled.a, "GET"],
        [settled.b, "SET"],
      ] as const) {
        const command = spans.find((s) => s.attributes["db.system.name"] === "redis")!;
        expect(command).toMatchObject({ name: operation, parentSpanId: root(spans).spanId });
      }
      for (const { body } of collector.received) expect(body.includes(secret)).toBe(false);
    } finally {
      await redis.del(key);
      redis.disconnect();
      await database.close();
    }
  }, 60_000);

  it("an inbound route's request, the checkpoint that covers its event and the delivery that checkpoint emits are one trace, named by the route", async () => {
    const t = await tenantWithStream(app);
    await webhookClient(app, t.key).createSubscription({ name: "inbound", url: hooks.url(), eventTypes: ["proofstream.checkpointed"] });
    const connector = await signedWebhookConnector(t);
    const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
    const body = seedBody();
    const res = await post(`${app.url}/v2/connectors/signed-webhooks/${connector.id}/events`, { ...signedHeaders(connector.secret, body), traceparent: `00-${callerTrace}-00f067aa0ba902b7-01` }, body);
    expect(res.status).toBe(201);

    const delivery = await waitFor(() => hooks.received.find((r) => r.body.toString().includes(t.streamId)), "the checkpoint's delivery", 30_000);
    expect(String(delivery.headers.traceparent ?? "").split("-")[1]).toBe(callerTrace);
    const route = "POST /v2/connectors/signed-webhooks/:id/events";
    const spans = await waitFor(
      () => {
        const inTrace = exported().filter((s) => s.traceId === callerTrace);
        return [route, "proofstream.append", "proofstream.checkpoint", "webhook.attempt POST"].every((name) => inTrace.some((s) => s.name === name)) ? inTrace : undefined;
      },
      "the inbound request's trace at the collector",
      30_000,
    );
    const request = spans.find((s) => s.name === route)!;
    expect(request).toMatchObject({ kind: 2, parentSpanId: "00f067aa0ba902b7" }); // SERVER, the caller's child
    expect(request.attributes).toMatchObject({ "http.request.method": "POST", "http.route": "/v2/connectors/signed-webhooks/:id/events", "http.response.status_code": 201 });
    expect(spans.find((s) => s.name === "proofstream.append")!.parentSpanId).toBe(request.spanId);
    // The connector's id is in the path, never in a span's name.
    expect(spans.some((s) => s.name.includes(connector.id))).toBe(false);

    // A path no route serves is still a span, named by its method alone.
    const unrouted = "5bf92f3577b34da6a3ce929d0e0e4737";
    expect((await fetch(`${app.url}/v2/no-such-route/${connector.id}`, { headers: { traceparent: `00-${unrouted}-00f067aa0ba902b8-01` } })).status).toBe(404);
    const missing = await waitFor(() => exported().find((s) => s.traceId === unrouted), "the unrouted request's span", 20_000);
    expect(missing).toMatchObject({ name: "GET", kind: 2 });
    expect(missing.attributes["http.response.status_code"]).toBe(404);
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
    const span = await waitFor(() => exported().find((s) => s.traceId === callerTrace && s.name === "attesto.v1.TenantService/GetCurrentTenant"), "the RPC's span in the caller's trace", 20_000);
    expect(span).toMatchObject({ name: "attesto.v1.TenantService/GetCurrentTenant", parentSpanId: "b7ad6b7169203331" });
  }, 60_000);
});
