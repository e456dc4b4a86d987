import { createHash, randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorKind, ConnectorService } from "../gen/ts/attesto/v1/connector_pb.js";
import { TenantService } from "../gen/ts/attesto/v1/tenant_pb.js";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { WebhookService } from "../gen/ts/attesto/v1/webhook_pb.js";
import { ErrorInfoSchema } from "../gen/ts/google/rpc/error_details_pb.js";
import { LIST_EVENTS_MAX_PAYLOAD_BYTES } from "../src/proofstream/stream-events.js";
import type { Attesto } from "../src/server/app.js";
import { appendRequest } from "./support/proofstream.js";
import { ADMIN_TOKEN, adminClient, clientFor, newTenant, startTestServer } from "./support/server.js";

/**
 * The v1 conventions a client relies on, end to end: request ids on
 * creates, flat pagination bound to its filters, etags, GET with immutable
 * caching, GetEvent by source_ref, the leaf bytes in inclusion proofs, and
 * catalogued reasons.
 */
let app: Attesto;
let tenant: Awaited<ReturnType<typeof newTenant>>;

beforeAll(async () => {
  // Subscriptions point at loopback: nothing is delivered in these tests, but the URL check resolves the host.
  app = await startTestServer({ checkpointIntervalMs: 100_000, webhookAllowLoopback: true });
  tenant = await newTenant(app.url);
});
afterAll(() => app?.stop());

const failure = async (p: Promise<unknown>) =>
  ConnectError.from(
    await p.then(
      () => new Error("expected a failure"),
      (e: unknown) => e,
    ),
  );
const reasonOf = (err: ConnectError) => err.findDetails(ErrorInfoSchema)[0]?.reason;

describe("request_id on creates (AIP-155)", () => {
  it("CreateStream: a retry returns the first stream; another request with the id is refused", async () => {
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const requestId = randomUUID();
    const [a, b] = await Promise.all([ps.createStream({ name: "once", requestId }), ps.createStream({ name: "once", requestId })]);
    const c = await ps.createStream({ name: "once", requestId });
    expect(b.stream!.id).toBe(a.stream!.id);
    expect(c.stream!.id).toBe(a.stream!.id);
    const other = await failure(ps.createStream({ name: "something else", requestId }));
    expect(other.code).toBe(Code.AlreadyExists);
    expect(reasonOf(other)).toBe("REQUEST_ID_REUSED");
    // Without an id every call creates.
    const [x, y] = await Promise.all([ps.createStream({ name: "twice" }), ps.createStream({ name: "twice" })]);
    expect(x.stream!.id).not.toBe(y.stream!.id);
  });

  it("CreateApiKey: a retry returns the same key with its one-time secret, which works", async () => {
    const own = clientFor(TenantService, app.url, tenant.key);
    const requestId = randomUUID();
    const first = await own.createApiKey({ name: "retried", requestId });
    const again = await own.createApiKey({ name: "retried", requestId });
    expect(again.apiKey!.id).toBe(first.apiKey!.id);
    expect(again.secret).toBe(first.secret);
    const me = await clientFor(TenantService, app.url, again.secret).getCurrentTenant({});
    expect(me.apiKey!.id).toBe(first.apiKey!.id);
    // The operator's request ids are apart from the tenant's.
    const byOperator = await adminClient(app.url).createApiKey({ tenantId: tenant.tenantId, name: "retried", requestId });
    expect(byOperator.apiKey!.id).not.toBe(first.apiKey!.id);
    // Only a SHA-256 of the key is kept with the key; the sealed copy for retries is not the key in clear.
    const rows = await app.database.db.execute<{ secret_enc: Buffer }>(sql`select secret_enc from request_ids where request_id = ${requestId}`);
    expect(rows.length).toBe(2);
    for (const row of rows) expect(Buffer.from(row.secret_enc).includes(Buffer.from(first.secret))).toBe(false);
  });

  it("CreateTenant and CreateSubscription: retries return the first resource", async () => {
    const admin = adminClient(app.url);
    const requestId = randomUUID();
    const t1 = await admin.createTenant({ name: "retried tenant", requestId });
    const t2 = await admin.createTenant({ name: "retried tenant", requestId });
    expect(t2.tenant!.id).toBe(t1.tenant!.id);

    const hooks = clientFor(WebhookService, app.url, tenant.key);
    const subId = randomUUID();
    const request = { name: "retried", url: "http://127.0.0.1:9/hook", eventTypes: ["batch.failed"], requestId: subId };
    const s1 = await hooks.createSubscription(request);
    const s2 = await hooks.createSubscription(request);
    expect(s2.subscription!.id).toBe(s1.subscription!.id);
    expect(s2.secret).toBe(s1.secret);
    // Once the secret was rotated, the first answer can no longer be given.
    await hooks.rotateSubscriptionSecret({ subscriptionId: s1.subscription!.id });
    const rotated = await failure(hooks.createSubscription(request));
    expect(rotated.code).toBe(Code.AlreadyExists);
    expect(reasonOf(rotated)).toBe("REQUEST_ID_REUSED");
  });
});

describe("pagination", () => {
  it("ListApiKeys pages, and a token is bound to the request's other fields", async () => {
    const t = await newTenant(app.url);
    const own = clientFor(TenantService, app.url, t.key);
    for (let i = 0; i < 3; i++) await own.createApiKey({ name: `k${i}` });
    const first = await own.listApiKeys({ pageSize: 2 });
    expect(first.apiKeys).toHaveLength(2);
    expect(first.nextPageToken).not.toBe("");
    const second = await own.listApiKeys({ pageSize: 2, pageToken: first.nextPageToken });
    expect(second.apiKeys.map((k) => k.id)).not.toContain(first.apiKeys[0]!.id);
    expect(first.apiKeys.length + second.apiKeys.length).toBe(4);
    expect(second.nextPageToken).toBe("");
    const changed = await failure(own.listApiKeys({ pageSize: 2, pageToken: first.nextPageToken, includeRevoked: true }));
    expect(changed.code).toBe(Code.InvalidArgument);
    expect(reasonOf(changed)).toBe("PAGE_TOKEN_INVALID");
    expect(changed.findDetails(ErrorInfoSchema)[0]!.metadata.field).toBe("page_token");
    expect((await failure(own.listApiKeys({ pageToken: "not-a-token" }))).code).toBe(Code.InvalidArgument);
  });

  it("ListEvents cuts a page by payload bytes too, never losing an event", async () => {
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "large payloads" });
    const blob = "x".repeat(900 * 1024);
    const count = Math.ceil(LIST_EVENTS_MAX_PAYLOAD_BYTES / blob.length) + 1;
    for (let i = 0; i < count; i++) await ps.appendEvent(appendRequest(stream!.id, `big-${i}`, { blob, i }));
    const first = await ps.listEvents({ streamId: stream!.id, pageSize: 500 });
    expect(first.events.length).toBeLessThan(count);
    expect(first.nextPageToken).not.toBe("");
    const rest = await ps.listEvents({ streamId: stream!.id, pageSize: 500, pageToken: first.nextPageToken });
    expect([...first.events, ...rest.events].map((e) => Number(e.seqNo))).toEqual(Array.from({ length: count }, (_, i) => i + 1));
  });
});

describe("reads", () => {
  it("GetEvent by source_ref; inclusion proofs carry the leaf bytes whose hash they prove", async () => {
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "reads" });
    for (let i = 0; i < 5; i++) await ps.appendEvent(appendRequest(stream!.id, `ref-${i}`, { i }));
    const { event } = await ps.getEvent({ streamId: stream!.id, event: { case: "sourceRef", value: "ref-3" } });
    expect(event!.seqNo).toBe(4n);
    expect((await failure(ps.getEvent({ streamId: stream!.id, event: { case: "sourceRef", value: "ref-none" } }))).code).toBe(Code.NotFound);
    expect((await failure(ps.getEvent({ streamId: stream!.id }))).code).toBe(Code.InvalidArgument);

    await ps.createCheckpoint({ streamId: stream!.id });
    const { proof } = await ps.getInclusionProof({ streamId: stream!.id, leaf: { case: "seqNo", value: 4n } });
    const recomputed = createHash("sha256")
      .update(Buffer.concat([Buffer.from([0]), Buffer.from(proof!.leaf)]))
      .digest();
    expect(Buffer.from(proof!.leafHash)).toEqual(recomputed);
    expect(Buffer.from(event!.leafHash)).toEqual(recomputed);
  });

  it("answers Connect GET for side-effect-free RPCs, immutable only where the answer cannot change", async () => {
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "cached" });
    await ps.appendEvent(appendRequest(stream!.id, "g-1", {}));
    await ps.createCheckpoint({ streamId: stream!.id });
    const get = (method: string, message: object) =>
      fetch(`${app.url}/attesto.v1.ProofstreamService/${method}?connect=v1&encoding=json&message=${encodeURIComponent(JSON.stringify(message))}`, {
        headers: { Authorization: `Bearer ${tenant.key}` },
      });
    const event = await get("GetEvent", { streamId: stream!.id, seqNo: "1" });
    expect(event.status).toBe(200);
    expect(event.headers.get("cache-control")).toMatch(/private.*immutable/);
    expect(((await event.json()) as { event: { sourceRef: string } }).event.sourceRef).toBe("g-1");
    const latest = await get("GetCheckpoint", { streamId: stream!.id });
    expect(latest.status).toBe(200);
    expect(latest.headers.get("cache-control")).toBeNull();
    const exact = await get("GetCheckpoint", { streamId: stream!.id, treeSize: "1" });
    expect(exact.headers.get("cache-control")).toMatch(/immutable/);
    // A write is never served over GET.
    const write = await get("AppendEvent", { streamId: stream!.id });
    expect(write.status).toBeGreaterThanOrEqual(400);
    expect(write.status).toBeLessThan(500);
  });
});

describe("etags and update masks", () => {
  it("a stale etag is ABORTED and changes nothing; a fresh one applies", async () => {
    const hooks = clientFor(WebhookService, app.url, tenant.key);
    const { subscription } = await hooks.createSubscription({ name: "etag", url: "http://127.0.0.1:9/e", eventTypes: ["batch.failed"] });
    const etag = subscription!.etag;
    expect(etag).not.toBe("");
    const renamed = await hooks.updateSubscription({ subscriptionId: subscription!.id, name: "first", updateMask: { paths: ["name"] }, etag });
    expect(renamed.subscription!.etag).not.toBe(etag);
    const stale = await failure(hooks.updateSubscription({ subscriptionId: subscription!.id, name: "second", updateMask: { paths: ["name"] }, etag }));
    expect(stale.code).toBe(Code.Aborted);
    expect(reasonOf(stale)).toBe("ETAG_MISMATCH");
    expect((await hooks.getSubscription({ subscriptionId: subscription!.id })).subscription!.name).toBe("first");
    expect((await failure(hooks.deleteSubscription({ subscriptionId: subscription!.id, etag }))).code).toBe(Code.Aborted);
    await hooks.deleteSubscription({ subscriptionId: subscription!.id, etag: renamed.subscription!.etag });
  });

  it("connectors: rotate and revoke refuse a stale etag", async () => {
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "connector etag" });
    const cons = clientFor(ConnectorService, app.url, tenant.key);
    const { connector } = await cons.createConnector({ streamId: stream!.id, name: "etag", kind: ConnectorKind.SIGNED_WEBHOOK });
    const rotated = await cons.rotateConnectorSecret({ connectorId: connector!.id, etag: connector!.etag });
    expect(rotated.connector!.etag).not.toBe(connector!.etag);
    const staleCalls = [() => cons.rotateConnectorSecret({ connectorId: connector!.id, etag: connector!.etag }), () => cons.revokeConnector({ connectorId: connector!.id, etag: connector!.etag })];
    for (const call of staleCalls) {
      const stale = await failure(call());
      expect(stale.code).toBe(Code.Aborted);
      expect(reasonOf(stale)).toBe("ETAG_MISMATCH");
    }
    const revoked = await cons.revokeConnector({ connectorId: connector!.id, etag: rotated.connector!.etag });
    expect(revoked.connector!.revokedAt).toBeDefined();
  });

  it("names update_mask when it is empty or names an unknown field", async () => {
    const hooks = clientFor(WebhookService, app.url, tenant.key);
    const { subscription } = await hooks.createSubscription({ name: "mask", url: "http://127.0.0.1:9/m", eventTypes: ["batch.failed"] });
    for (const paths of [[], ["nmae"]]) {
      const err = await failure(hooks.updateSubscription({ subscriptionId: subscription!.id, name: "x", updateMask: { paths } }));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.findDetails(ErrorInfoSchema)[0]!.metadata.field).toBe("update_mask");
    }
    // Fields the mask does not name are left alone, even when set.
    const updated = await hooks.updateSubscription({ subscriptionId: subscription!.id, name: "renamed", description: "ignored", updateMask: { paths: ["name"] } });
    expect(updated.subscription).toMatchObject({ name: "renamed", description: "" });
  });
});

describe("reasons", () => {
  it("sends catalogued reasons for authentication failures", async () => {
    const none = await failure(clientFor(TenantService, app.url).getCurrentTenant({}));
    expect(reasonOf(none)).toBe("CREDENTIALS_MISSING");
    const wrong = await failure(clientFor(TenantService, app.url, `atk_${"A".repeat(43)}`).getCurrentTenant({}));
    expect(reasonOf(wrong)).toBe("API_KEY_INVALID");
    const operator = await failure(clientFor(TenantService, app.url, ADMIN_TOKEN).getCurrentTenant({}));
    expect(operator.code).toBe(Code.PermissionDenied);
    expect(reasonOf(operator)).toBe("TENANT_KEY_REQUIRED");
  });
});
