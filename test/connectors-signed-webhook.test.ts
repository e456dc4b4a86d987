import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorStatus } from "../gen/ts/attesto/v1/connector_pb.js";
import type { Attesto } from "../src/server/app.js";
import { adminClient } from "./support/server.js";
import { post, seedBody, signedHeaders, signedWebhookConnector, startConnectorServer, tenantWithStream, type TenantWithStream } from "./support/connectors.js";
import { capturedLogs, leakedIntoLogs, sensitive } from "./support/connectors.js";

let app: Attesto;
let t: TenantWithStream;
let c: { id: string; secret: string };
let url: string;

beforeAll(async () => {
  app = await startConnectorServer({ bodyLimitBytes: 64 * 1024 });
  t = await tenantWithStream(app);
  c = await signedWebhookConnector(t);
  url = `${app.url}/v2/connectors/signed-webhooks/${c.id}/events`;
});
afterAll(async () => {
  await app?.stop();
});

describe("signed webhook ingress (seed 000)", () => {
  it("commits the seed's body: 201, then 200 duplicate for an identical replay, 409 replay_conflict for other content", async () => {
    const body = seedBody("source-system-2026-0001");
    const first = await post(url, signedHeaders(c.secret, body), body);
    expect(first.status).toBe(201);
    expect(first.json).toEqual({ stream_id: t.streamId, seq_no: 1, leaf_hash: expect.stringMatching(/^[0-9a-f]{64}$/), leaf_hash_base64: expect.any(String), duplicate: false });

    const replay = await post(url, signedHeaders(c.secret, body), body);
    expect(replay.status).toBe(200);
    expect(replay.json).toEqual({ ...first.json, duplicate: true });

    const changed = seedBody("source-system-2026-0001", "failed");
    const conflict = await post(url, signedHeaders(c.secret, changed), changed);
    expect(conflict.status).toBe(409);
    expect(conflict.json).toEqual({ error: { code: "replay_conflict", message: expect.any(String), field: "source_ref", reason: "REPLAY_CONFLICT" } });

    // Committed exactly as sent, through the same log as AppendEvent.
    const { event } = await t.ps.getEvent({ streamId: t.streamId, event: { case: "seqNo", value: 1n } });
    expect(event!.sourceRef).toBe("source-system-2026-0001");
    expect(event!.eventType).toBe("source.observation");
    expect(event!.payload).toEqual({ control: "policy-check", result: "passed", policy_id: "policy-2026-01" });
    expect(Buffer.from(event!.leafHash).toString("hex")).toBe(first.json!.leaf_hash);
    // The base64 beside it is the RPCs' JSON encoding of the same bytes.
    expect(Buffer.from(event!.leafHash).toString("base64")).toBe(first.json!.leaf_hash_base64);
    const diag = await t.connectors.getConnectorDiagnostics({ connectorId: c.id });
    expect(diag.diagnostics!.status).toBe(ConnectorStatus.REPLAY_CONFLICT);
    expect(diag.diagnostics!.counters).toMatchObject({ acceptedCount: 1n, duplicateCount: 1n, replayConflictCount: 1n });
  });

  it("answers 401 auth_failed without detail for a wrong, stale, future or missing signature, checked before parsing", async () => {
    const body = seedBody();
    const now = Math.floor(Date.now() / 1000);
    const attempts = [
      signedHeaders("not-the-secret", body),
      signedHeaders(c.secret, body, now - 360),
      signedHeaders(c.secret, body, now + 360),
      { "content-type": "application/json" },
      { ...signedHeaders(c.secret, body), "x-attesto-connector-signature": "zz" },
    ];
    const answers = await Promise.all(attempts.map((h) => post(url, h, body)));
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.text).toBe(answers[0]!.text);
    }
    expect(answers[0]!.json).toEqual({ error: { code: "unauthenticated", message: "authentication failed", reason: "SIGNATURE_INVALID" } });
    // The signature covers the raw bytes: the same JSON re-serialized does not verify.
    const spaced = JSON.stringify(JSON.parse(body), null, 2);
    expect((await post(url, signedHeaders(c.secret, body), spaced)).status).toBe(401);
    // Not JSON at all, unsigned: refused as unauthenticated, never parsed.
    expect((await post(url, signedHeaders("wrong", "{"), "{")).status).toBe(401);
    // Within the skew it is accepted.
    expect((await post(url, signedHeaders(c.secret, body, now - 290), body)).status).toBe(201);
    const diag = await t.connectors.getConnectorDiagnostics({ connectorId: c.id });
    expect(diag.diagnostics!.status).toBe(ConnectorStatus.HEALTHY);
    expect(diag.diagnostics!.counters!.authFailureCount).toBe(7n);
  });

  it("answers 400 naming the field for a bad body, and writes nothing", async () => {
    const cases: Array<[string, string]> = [
      ["{", "body"],
      ["[]", "body"],
      [JSON.stringify({ event_type: "x", occurred_at: "2026-06-07T12:00:00Z", payload: {} }), "source_ref"],
      [JSON.stringify({ source_ref: "has space", event_type: "x", occurred_at: "2026-06-07T12:00:00Z", payload: {} }), "source_ref"],
      [JSON.stringify({ source_ref: "a", event_type: "bad type", occurred_at: "2026-06-07T12:00:00Z", payload: {} }), "event_type"],
      [JSON.stringify({ source_ref: "a", event_type: "x", occurred_at: "yesterday", payload: {} }), "occurred_at"],
      [JSON.stringify({ source_ref: "a", event_type: "x", occurred_at: "2026-06-07T12:00:00Z", payload: [1] }), "payload"],
      [JSON.stringify({ source_ref: "a", event_type: "x", occurred_at: "2026-06-07T12:00:00Z", payload: {}, extra: 1 }), "extra"],
    ];
    const before = (await t.ps.getStream({ streamId: t.streamId })).stream!.treeSize;
    for (const [body, field] of cases) {
      const res = await post(url, signedHeaders(c.secret, body), body);
      expect(res.status, body).toBe(400);
      expect((res.json!.error as { field: string }).field).toBe(field);
    }
    expect((await t.ps.getStream({ streamId: t.streamId })).stream!.treeSize).toBe(before);
  });

  it("answers 413 over the size limit and 404 for unknown ids of any shape", async () => {
    const big = seedBody().replace('"passed"', JSON.stringify("x".repeat(70 * 1024)));
    const res = await post(url, signedHeaders(c.secret, big), big);
    expect(res.status).toBe(413);
    expect((res.json!.error as { code: string }).code).toBe("payload_too_large");
    const body = seedBody();
    const a = await post(`${app.url}/v2/connectors/signed-webhooks/con_00000000000000000000000000/events`, signedHeaders(c.secret, body), body);
    const b = await post(`${app.url}/v2/connectors/signed-webhooks/not-an-id/events`, signedHeaders(c.secret, body), body);
    expect(a.status).toBe(404);
    expect(b.text).toBe(a.text);
    expect(a.json).toEqual({ error: { code: "not_found", message: "connector not found", reason: "CONNECTOR_NOT_FOUND" } });
  });

  it("a deactivated tenant's connector answers 404 like an unknown one", async () => {
    const s = await tenantWithStream(app);
    const conn = await signedWebhookConnector(s);
    await adminClient(app.url).deactivateTenant({ tenantId: s.tenantId });
    const body = seedBody();
    const res = await post(`${app.url}/v2/connectors/signed-webhooks/${conn.id}/events`, signedHeaders(conn.secret, body), body);
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ error: { code: "not_found", message: "connector not found", reason: "CONNECTOR_NOT_FOUND" } });
  });

  it("64 concurrent deliveries commit gapless through the appender's batches", async () => {
    const s = await tenantWithStream(app);
    const conn = await signedWebhookConnector(s);
    const target = `${app.url}/v2/connectors/signed-webhooks/${conn.id}/events`;
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) => {
        const body = seedBody(`burst-${i}`);
        return post(target, signedHeaders(conn.secret, body), body);
      }),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    expect(results.map((r) => r.json!.seq_no as number).sort((x, y) => x - y)).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
  });
  it("wrote none of the secrets and payloads it used into a log line", () => {
    expect(capturedLogs.length).toBeGreaterThan(0);
    expect(sensitive.size).toBeGreaterThan(1);
    expect(leakedIntoLogs()).toEqual([]);
  });
});
