import { randomBytes } from "node:crypto";
import http from "node:http";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { AppendEventRequestSchema, ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { WebhookService } from "../gen/ts/attesto/v1/webhook_pb.js";
import type { Attesto } from "../src/server/app.js";
import { verifierKeyString } from "../src/verify/note.js";
import { appendRequest } from "./support/proofstream.js";
import { ADMIN_TOKEN, adminClient, clientFor, newTenant, startTestServer } from "./support/server.js";

/**
 * Hostile input answered as the caller's error (issue 11, items 2, 3, 11):
 * what PostgreSQL or the canonicalizer would refuse is refused by field name
 * before it joins a batch, and one bad event never fails its neighbours.
 */
let app: Attesto;
let tenant: Awaited<ReturnType<typeof newTenant>>;
let client: ReturnType<typeof clientFor<typeof ProofstreamService>>;

beforeAll(async () => {
  app = await startTestServer({ webhookAllowLoopback: true });
  tenant = await newTenant(app.url);
  client = clientFor(ProofstreamService, app.url, tenant.key);
});
afterAll(() => app?.stop());

const failure = async (p: Promise<unknown>) =>
  ConnectError.from(
    await p.then(
      () => new Error("expected a failure"),
      (e: unknown) => e,
    ),
  );

/** A raw Connect call, so bodies no client library would send can be sent. */
async function rpc(method: string, body: string | Uint8Array, opts: { token?: string; contentType?: string } = {}) {
  const res = await fetch(`${app.url}/attesto.v1.${method}`, {
    method: "POST",
    headers: { "content-type": opts.contentType ?? "application/json", authorization: `Bearer ${opts.token ?? tenant.key}` },
    body: body as BodyInit,
  });
  return { status: res.status, body: (await res.text()) as string };
}

async function treeSize(streamId: string) {
  return Number((await client.getStream({ streamId })).stream!.treeSize);
}

describe("one bad append among many", () => {
  it("a NUL in one payload among 300 concurrent appends fails that one alone, naming the field", async () => {
    const { stream } = await client.createStream({ name: "poison" });
    const id = stream!.id;
    const results = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => client.appendEvent(appendRequest(id, `ref-${i}`, i === 150 ? { note: "bad\u0000byte" } : { n: i }))));
    const rejected = results.flatMap((r, i) => (r.status === "rejected" ? [{ i, err: ConnectError.from(r.reason) }] : []));
    expect(rejected.map((r) => r.i)).toEqual([150]);
    expect(rejected[0]!.err.code).toBe(Code.InvalidArgument);
    expect(rejected[0]!.err.rawMessage).toBe("payload.note: must not contain NUL (U+0000)");
    expect(await treeSize(id)).toBe(299);
  });

  it("a member the database refuses for a reason no check foresaw is retried alone: only it fails", async () => {
    const { stream } = await client.createStream({ name: "safety-net" });
    const id = stream!.id;
    const input = (ref: string) => ({ tenantId: tenant.tenantId, streamId: id, sourceRef: ref, eventType: "x", occurredAt: new Date(), payload: { ref } });
    // Through the domain facade (the RPC edge limits source_ref to 256 characters): an
    // incompressible 6 KB key exceeds the btree row limit of the source_ref index.
    const huge = randomBytes(3000).toString("hex");
    const results = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => app.proofstreams.append(input(i === 30 ? huge : `ok-${i}`))));
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [i] : []));
    expect(failed).toEqual([30]);
    expect(await treeSize(id)).toBe(59);
    const seqs = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.event.seqNo] : [])).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 59 }, (_, i) => i + 1));
  });
});

describe("500s that are the caller's error", () => {
  let streamId: string;
  beforeAll(async () => {
    streamId = (await client.createStream({ name: "inputs" })).stream!.id;
  });
  const appendJson = (payload: string, occurredAt = '"2026-01-01T00:00:00Z"') =>
    `{"streamId":"${streamId}","sourceRef":"r-${randomBytes(4).toString("hex")}","eventType":"x","occurredAt":${occurredAt},"payload":${payload}}`;

  it.each([
    ['{"n":1e400}', "payload.n: must be a finite number"],
    ['{"n":-1e999}', "payload.n: must be a finite number"],
    ['{"s":"\\ud800"}', "payload.s: must not contain a lone UTF-16 surrogate"],
    ['{"a":[{"s":"x\\u0000"}]}', "payload.a[0].s: must not contain NUL (U+0000)"],
  ])("AppendEvent with payload %s answers 400 naming the value", async (payload, message) => {
    const before = await treeSize(streamId);
    const res = await rpc("ProofstreamService/AppendEvent", appendJson(payload));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: "invalid_argument", message });
    expect(await treeSize(streamId)).toBe(before);
  });

  it("an occurred_at beyond year 9999 in binary (JSON cannot say it) answers 400", async () => {
    const msg = create(AppendEventRequestSchema, { ...appendRequest(streamId, "far-future"), occurredAt: { seconds: 10n ** 12n, nanos: 0 } });
    const res = await rpc("ProofstreamService/AppendEvent", toBinary(AppendEventRequestSchema, msg), { contentType: "application/proto" });
    expect(res.status).toBe(400);
    expect(res.body).toContain("occurred_at: must be a time between years 0001 and 9999");
  });

  it("NUL in names and descriptions, on every surface, answers 400 naming the field", async () => {
    const admin = adminClient(app.url);
    const webhooks = clientFor(WebhookService, app.url, tenant.key);
    const named = [
      admin.createTenant({ name: "acme\u0000" }),
      admin.createApiKey({ tenantId: tenant.tenantId, name: "k\u0000" }),
      client.createStream({ name: "s\u0000" }),
      webhooks.createSubscription({ name: "w\u0000", url: "http://127.0.0.1:9/hook", eventTypes: ["batch.confirmed"] }),
    ];
    for (const err of await Promise.all(named.map(failure))) {
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toBe("name: must not contain NUL (U+0000)");
    }
    const { subscription } = await webhooks.createSubscription({ name: "ok", url: "http://127.0.0.1:9/hook", eventTypes: ["batch.confirmed"] });
    const update = await failure(webhooks.updateSubscription({ subscriptionId: subscription!.id, description: "d\u0000" }));
    expect(update.code).toBe(Code.InvalidArgument);
    expect(update.rawMessage).toBe("description: must not contain NUL (U+0000)");
    const rest = await fetch(`${app.url}/v1/webhooks`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tenant.key}` },
      body: '{"name":"a\\u0000","url":"http://127.0.0.1:9/h","eventTypes":["batch.confirmed"]}',
    });
    expect(rest.status).toBe(400);
    expect(await rest.json()).toMatchObject({ error: { code: "invalid_argument", field: "name" } });
  });

  it("an ordering bound out of range or of the wrong type answers 400 naming the field, on RPC and REST", async () => {
    const hook = { name: "o", url: "http://127.0.0.1:9/hook", eventTypes: ["batch.confirmed"], ordered: true };
    for (const bound of ["604801", "-1", "1.5", '"ten"', "4294967296"]) {
      const res = await rpc("WebhookService/CreateSubscription", `${JSON.stringify(hook).slice(0, -1)},"orderingBoundSeconds":${bound}}`);
      expect(res.status, bound).toBe(400);
      expect(res.body, bound).toMatch(/ordering_bound_seconds|orderingBoundSeconds/);
    }
    for (const body of [{ orderingBoundSeconds: 604_801 }, { orderingBoundSeconds: -5 }, { orderingBoundSeconds: "60" }, { ordered: 1 }]) {
      const rest = await fetch(`${app.url}/v1/webhooks`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${tenant.key}` },
        body: JSON.stringify({ ...hook, ...body }),
      });
      expect(rest.status, JSON.stringify(body)).toBe(400);
      expect((await rest.json()).error.field, JSON.stringify(body)).toBe(Object.keys(body)[0]);
    }
  });

  it("a truncated application/proto body answers 400 invalid_argument, on every protocol's parse", async () => {
    const res = await rpc("ProofstreamService/GetEvent", new Uint8Array([0x0a, 0x05, 0x61, 0x62]), { contentType: "application/proto" });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: "invalid_argument", message: "body: is not a valid attesto.v1.GetEventRequest in protobuf binary (parse binary: premature EOF)" });
    expect(JSON.parse(res.body).details[0].debug).toEqual({ reason: "BODY_INVALID", domain: "attesto.eu", metadata: { field: "body" } });
    const admin = await fetch(`${app.url}/attesto.admin.v1.AdminService/ListTenants`, {
      method: "POST",
      headers: { "content-type": "application/proto", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: new Uint8Array([0xff]),
    });
    expect(admin.status).toBe(400);
  });
});

describe("unknown fields: one rule", () => {
  it("JSON names the unknown field (RPC and REST alike); binary keeps it", async () => {
    const res = await rpc("ProofstreamService/CreateStream", '{"nmae":"typo"}');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: "invalid_argument", message: "nmae: unknown field" });
    const rest = await fetch(`${app.url}/v1/webhooks`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tenant.key}` },
      body: '{"nmae":"a","url":"http://127.0.0.1:9/h","eventTypes":["batch.confirmed"]}',
    });
    expect(rest.status).toBe(400);
    expect((await rest.json()).error).toMatchObject({ message: "nmae: unknown field", field: "nmae", reason: "BODY_INVALID" });
    // Field 99 (unknown to CreateStreamRequest) after a valid name: accepted.
    const binary = new Uint8Array([0x0a, 0x02, 0x6f, 0x6b, 0x98, 0x06, 0x01]);
    const created = await rpc("ProofstreamService/CreateStream", binary, { contentType: "application/proto" });
    expect(created.status).toBe(200);
  });
});

/** The google.rpc.ErrorInfo of a Connect JSON error body (its `debug` form). */
const errorInfo = (body: string) => (JSON.parse(body) as { details?: Array<{ type: string; debug: unknown }> }).details?.find((d) => d.type === "google.rpc.ErrorInfo")?.debug;

describe("what connect cannot parse carries ErrorInfo like every other refusal (issue 26, item 7)", () => {
  const bodyInvalid = (field: string) => ({ reason: "BODY_INVALID", domain: "attesto.eu", metadata: { field } });

  it("an unknown JSON field: BODY_INVALID naming the field, on the fast path and on connect-node (GET)", async () => {
    const res = await rpc("ProofstreamService/CreateStream", '{"nmae":"typo"}');
    expect(errorInfo(res.body)).toEqual(bodyInvalid("nmae"));
    const get = await fetch(`${app.url}/attesto.v1.ProofstreamService/GetStream?encoding=json&message=${encodeURIComponent('{"streamid":"x"}')}`, {
      headers: { authorization: `Bearer ${tenant.key}` },
    });
    expect(get.status).toBe(400);
    const body = await get.text();
    expect(JSON.parse(body).message).toBe("streamid: unknown field");
    expect(errorInfo(body)).toEqual(bodyInvalid("streamid"));
  });

  it("malformed JSON: BODY_INVALID on `body`; a value of the wrong type: BODY_INVALID naming its field", async () => {
    const malformed = await rpc("ProofstreamService/CreateStream", '{"name":');
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.body).message).toMatch(/^body: is not valid JSON for attesto\.v1\.CreateStreamRequest/);
    expect(errorInfo(malformed.body)).toEqual(bodyInvalid("body"));
    const wrongType = await rpc("ProofstreamService/CreateStream", '{"name":5}');
    expect(JSON.parse(wrongType.body).message).toBe("name: expected string, got 5");
    expect(errorInfo(wrongType.body)).toEqual(bodyInvalid("name"));
  });
});

describe("unsupported media types and unknown RPCs answer what to send instead (issue 26, item 7)", () => {
  it("no Content-Type, or another one: 415 with a Connect error naming the types the method takes", async () => {
    for (const headers of [{}, { "content-type": "text/plain" }] as Array<Record<string, string>>) {
      const res = await post("/attesto.v1.ProofstreamService/CreateStream", Buffer.from('{"name":"x"}'), { ...headers, authorization: `Bearer ${tenant.key}` });
      expect(res.status).toBe(415);
      expect(res.headers["content-type"]).toBe("application/json");
      expect(res.headers["accept-post"]).toContain("application/json");
      expect(JSON.parse(res.body).message).toContain("this method takes application/json or application/proto (Connect)");
      expect(errorInfo(res.body)).toEqual({ reason: "BODY_INVALID", domain: "attesto.eu" });
    }
  });

  it("a GET to a method that changes state: 405 saying to POST it", async () => {
    const res = await fetch(`${app.url}/attesto.v1.ProofstreamService/CreateStream?encoding=json&message=%7B%7D`, { headers: { authorization: `Bearer ${tenant.key}` } });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect((await res.json()).message).toContain("call it with POST");
  });

  it("a service under the wrong package: 404 naming the package it lives in; an unknown method or service says so", async () => {
    const wrong = await rpc("AdminService/ListTenants", "{}", { token: ADMIN_TOKEN });
    expect(wrong.status).toBe(404);
    expect(JSON.parse(wrong.body)).toMatchObject({
      code: "unimplemented",
      message: "there is no service attesto.v1.AdminService: the service is attesto.admin.v1.AdminService (call /attesto.admin.v1.AdminService/ListTenants)",
    });
    expect(errorInfo(wrong.body)).toEqual({ reason: "ROUTE_NOT_FOUND", domain: "attesto.eu" });
    const method = await rpc("ProofstreamService/Nope", "{}");
    expect(JSON.parse(method.body).message).toBe("attesto.v1.ProofstreamService has no method Nope");
    const service = await rpc("NopeService/Nope", "{}");
    expect(service.status).toBe(404);
    expect(JSON.parse(service.body).message).toContain("there is no service attesto.v1.NopeService");
  });
});

/** One request on a fresh connection: status, headers, body. */
function post(path: string, body: Buffer, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request(`${app.url}${path}`, { method: "POST", headers: { ...headers, "content-length": String(body.length) }, agent: false }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("oversized bodies", () => {
  const big = () => Buffer.from(JSON.stringify({ name: "a".repeat(1024 * 1024 + 10) }));

  it("an RPC answers RESOURCE_EXHAUSTED with reason PAYLOAD_TOO_LARGE and the limit, and closes the connection", async () => {
    const res = await post("/attesto.v1.ProofstreamService/CreateStream", big(), { "content-type": "application/json", authorization: `Bearer ${tenant.key}` });
    expect(res.status).toBe(429);
    expect(res.headers.connection).toBe("close");
    const body = JSON.parse(res.body);
    expect(body.code).toBe("resource_exhausted");
    expect(body.message).toContain("exceeds the limit of 1048576 bytes");
    expect(body.details[0].debug.reason).toBe("PAYLOAD_TOO_LARGE");
  });

  it("a REST route answers 413 with the reason and Connection: close (no reset on the next request)", async () => {
    const res = await post("/v1/webhooks", big(), { "content-type": "application/json", authorization: `Bearer ${tenant.key}` });
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe("close");
    expect(JSON.parse(res.body).error).toMatchObject({ code: "payload_too_large", reason: "PAYLOAD_TOO_LARGE" });
  });
});

describe("Google Play calls and reconciliation: hostile input refused by field before Google is asked", () => {
  const cases: Array<[method: string, body: unknown, field: string]> = [
    ["GooglePlayService/AcknowledgeProduct", { productId: "coins", purchaseToken: "tok\u0000en" }, "purchase_token"],
    ["GooglePlayService/AcknowledgeProduct", { productId: "../../etc", purchaseToken: "tok" }, "product_id"],
    ["GooglePlayService/ConsumeProduct", { productId: "coins", purchaseToken: "" }, "purchase_token"],
    ["GooglePlayService/AcknowledgeSubscription", { productId: "premium", purchaseToken: "tok", developerPayload: "x".repeat(1025) }, "developer_payload"],
    ["GooglePlayService/CancelSubscription", { purchaseToken: "tok", cancellationType: "EVERYTHING" }, "cancellation_type"],
    ["GooglePlayService/RevokeSubscription", { purchaseToken: "tok" }, "refund"],
    ["GooglePlayService/DeferSubscription", { productId: "premium", purchaseToken: "tok" }, "expected_expiry_time"],
    ["GooglePlayService/RefundOrder", { orderId: "GPA/../../refund" }, "order_id"],
    ["GooglePlayService/ListVoidedPurchases", { maxResults: 5000 }, "max_results"],
    ["GooglePlayService/ListVoidedPurchases", { pageToken: "a b" }, "page_token"],
    ["GooglePlayService/ListVoidedPurchases", { packageName: "not a package" }, "package_name"],
  ];

  it.each(cases)("%s %j → INVALID_ARGUMENT naming %s", async (method, body, field) => {
    const res = await rpc(method, JSON.stringify(body));
    expect(res.status).toBe(400);
    const answer = JSON.parse(res.body) as { code: string; message: string };
    expect(answer.code).toBe("invalid_argument");
    expect(answer.message).toContain(field);
  });

  it("the REST forms answer 400 naming the field, and a body that is no object 400 too (never a 5xx)", async () => {
    const post = (route: string, body: string) =>
      fetch(`${app.url}/v1/google/${route}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${tenant.key}` }, body });
    const refund = await post("refund-order", JSON.stringify({ orderId: "GPA/../x" }));
    expect(refund.status).toBe(400);
    expect(await refund.text()).toContain("order_id");
    for (const body of ["[]", "null", "{", '"x"']) expect((await post("voided-purchases", body)).status).toBe(400);
  });

  it("ReconcileNotifications of a tenant without store credentials is FAILED_PRECONDITION and writes nothing", async () => {
    const res = await rpc("StoreNotificationService/ReconcileNotifications", JSON.stringify({ source: "STORE_GOOGLE" }));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: "failed_precondition" });
    const list = await rpc("StoreNotificationService/ListNotifications", "{}");
    expect(JSON.parse(list.body)).toEqual({});
  });
});

describe("bundle share links: hostile tokens and bodies (issue 26, defect 6)", () => {
  it("GET /v1/shared-bundle answers 400 naming the header or one 404, never a 5xx, for any token", async () => {
    const tokens = [
      "",
      " ",
      "ats_",
      `ats_${"A".repeat(43)}`,
      `ats_${"A".repeat(44)}`,
      `ats_${"é".repeat(43)}`,
      "../../etc/passwd",
      `ats_${"%00".repeat(15)}`,
      "x".repeat(8000),
      `ats_${randomBytes(32).toString("base64url")}`,
    ];
    for (const token of tokens) {
      const res = await fetch(`${app.url}/v1/shared-bundle`, { headers: token === "" ? {} : { "X-Attesto-Share-Token": encodeURI(token) } });
      const body = await res.text();
      expect([400, 404], `${token.slice(0, 30)}: ${res.status} ${body.slice(0, 200)}`).toContain(res.status);
      if (res.status === 400) expect(JSON.parse(body).error.field).toBe("x-attesto-share-token");
    }
    // Other methods and query strings do not reach a handler that could fail.
    expect((await fetch(`${app.url}/v1/shared-bundle?token=${"a".repeat(100)}`, { method: "POST" })).status).toBeLessThan(500);
  });

  it("the REST create and revoke answer 400 naming the field for hostile bodies and ids, and write nothing", async () => {
    const { stream } = await client.createStream({ name: "share-hostile" });
    await client.appendEvent(appendRequest(stream!.id, "h-1"));
    const { bundle } = await client.createBundle({ streamId: stream!.id, fromSeqNo: 1n, toSeqNo: 1n });
    const post = (path: string, body: string) => fetch(`${app.url}${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${tenant.key}` }, body });
    const cases: Array<[string, string, string]> = [
      [`/v1/bundles/${bundle!.id}/share-links`, "[]", "body"],
      [`/v1/bundles/${bundle!.id}/share-links`, "{", "body"],
      [`/v1/bundles/${bundle!.id}/share-links`, '{"ttlSeconds":1e400}', "ttlSeconds"],
      [`/v1/bundles/${bundle!.id}/share-links`, '{"ttlSeconds":-1}', "ttlSeconds"],
      [`/v1/bundles/${bundle!.id}/share-links`, '{"ttlSeconds":9007199254740993}', "ttlSeconds"],
      [`/v1/bundles/${bundle!.id}/share-links`, '{"requestId":"a\\u0000b"}', "requestId"],
      [`/v1/bundles/${bundle!.id}/share-links`, '{"nmae":1}', "nmae"],
      ["/v1/bundles/bundle_..%2F..%2Fx/share-links", "{}", "bundleId"],
    ];
    for (const [path, body, field] of cases) {
      const res = await post(path, body);
      const text = await res.text();
      expect(res.status, `${path} ${body}: ${text.slice(0, 200)}`).toBe(400);
      expect(JSON.parse(text).error.field, body).toBe(field);
    }
    const del = await fetch(`${app.url}/v1/bundles/${bundle!.id}/share-links/bsl_%00`, { method: "DELETE", headers: { authorization: `Bearer ${tenant.key}` } });
    expect(del.status).toBe(400);
    expect((await del.json()).error.field).toBe("shareLinkId");
    // Nothing was created by any of them: a first link made now is the bundle's only one, and revoking it works.
    const made = await post(`/v1/bundles/${bundle!.id}/share-links`, "");
    expect(made.status).toBe(201);
    const rpc = await fetch(`${app.url}/attesto.v1.ProofstreamService/RevokeBundleShareLink`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tenant.key}` },
      body: JSON.stringify({ shareLinkId: "bsl_../x" }),
    });
    expect(rpc.status).toBe(400);
    expect(await rpc.text()).toContain("share_link_id");
    const count = Number((await app.database.db.execute(sql`SELECT count(*)::int AS n FROM bundle_share_links WHERE bundle_id = ${bundle!.id}`))[0]!.n);
    expect(count).toBe(1);
  });
});

describe("a verifier policy from anyone (VerifyBundle, POST /v2/verify): an unusable field is a 400 naming it", () => {
  const badPem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  const cosignatureKey = "witness.example/w+00000000+BAAA";
  const document = '{"format":"attesto.bundle.v1"}';

  it("POST /v2/verify's query parameters", async () => {
    const cases: Array<[string, string]> = [
      [`tsa_roots=${encodeURIComponent(badPem)}`, "tsa_roots"],
      ["tsa_roots=%00", "tsa_roots"],
      ["witness_k=1", "witness_k"],
      ["witness_k=-1", "witness_k"],
      ["witness_k=99999999999", "witness_k"],
      [`witness_keys=${encodeURIComponent(cosignatureKey)}&witness_k=1`, "witness_keys"],
      ["witness_keys=a%00b&witness_k=1", "witness_keys"],
      ["witness_keys=x", "witness_k"],
      ["require_anchor=yes", "require_anchor"],
    ];
    for (const [query, field] of cases) {
      const res = await fetch(`${app.url}/v2/verify?${query}`, { method: "POST", body: document, headers: { "content-type": "application/json" } });
      const text = await res.text();
      expect(res.status, `${query.slice(0, 80)}: ${text.slice(0, 200)}`).toBe(400);
      expect(JSON.parse(text).error.field, query.slice(0, 80)).toBe(field);
    }
    // Roots past the HTTP server's header limit (a URL is a header): refused by the transport, a 4xx too.
    const long = await fetch(`${app.url}/v2/verify?tsa_roots=${"A".repeat(70_000)}`, { method: "POST", body: document });
    expect(long.status).toBe(431);
  });

  it("VerifyBundle's fields", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ tsaRoots: [badPem] }, "tsa_roots"],
      [{ tsaRoots: ["\u0000"] }, "tsa_roots"],
      [{ witnessK: 1 }, "witness_k"],
      [{ witnessKeys: [cosignatureKey] }, "witness_k"],
      [{ witnessKeys: [cosignatureKey], witnessK: 1 }, "witness_keys"],
      [{ witnessKeys: ["\ud800"], witnessK: 1 }, "witness_keys"],
      [{ tsaRoots: ["A".repeat(70_000)] }, "tsa_roots"],
    ];
    for (const [fields, field] of cases) {
      const res = await fetch(`${app.url}/attesto.v1.VerifierService/VerifyBundle`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ bundleJson: document, ...fields }),
      });
      const text = await res.text();
      expect(res.status, `${JSON.stringify(fields).slice(0, 80)}: ${text.slice(0, 200)}`).toBe(400);
      expect(text, JSON.stringify(fields).slice(0, 80)).toContain(field);
    }
  });
});

describe("stream key rotation: hostile ids and bundles", () => {
  it("RotateStreamKey answers 400 naming stream_id for hostile ids, 404 for unknown ones, never a 5xx, and rotates nothing", async () => {
    const { stream } = await client.createStream({ name: "rotation-hostile" });
    const bodies = ["{}", '{"streamId":""}', '{"streamId":"str_\\u0000"}', `{"streamId":"${"x".repeat(5000)}"}`, '{"streamId":5}', "[]", '{"streamId":"str_../x"}', "{"];
    for (const body of bodies) {
      const res = await rpc("ProofstreamService/RotateStreamKey", body);
      expect(res.status, `${body.slice(0, 40)}: ${res.body.slice(0, 200)}`).toBe(400);
      if (body.startsWith('{"streamId"')) expect(res.body, body.slice(0, 40)).toContain("stream_id");
    }
    const unknown = await rpc("ProofstreamService/RotateStreamKey", '{"streamId":"str_01ARZ3NDEKTSV4RRFFQ69G5FAV"}');
    expect(unknown.status).toBe(404);
    const binary = await rpc("ProofstreamService/RotateStreamKey", new Uint8Array([0x0a, 0xff, 0xff]), { contentType: "application/proto" });
    expect(binary.status).toBe(400);
    const rows = await app.database.db.execute(sql`SELECT count(*)::int AS n FROM stream_keys WHERE stream_id = ${stream!.id}`);
    expect(Number(rows[0]!.n)).toBe(1);
  });

  it("POST /v2/verify reports a bundle with hostile key_rotations (never a 5xx): format fails for what is not statements, key_rotation for forged ones", async () => {
    const { stream } = await client.createStream({ name: "rotation-verify" });
    await client.appendEvent(appendRequest(stream!.id, "v-1"));
    const { bundle } = await client.createBundle({ streamId: stream!.id, fromSeqNo: 1n, toSeqNo: 1n });
    let doc: Record<string, unknown> | undefined;
    for (let i = 0; i < 200 && !doc; i++) {
      const { bundle: b } = await client.getBundle({ bundleId: bundle!.id });
      if (b!.bundleJson) doc = JSON.parse(b!.bundleJson) as Record<string, unknown>;
      else await new Promise((r) => setTimeout(r, 50));
    }
    const cases: Array<[unknown, string]> = [
      [{}, "format"],
      [["x".repeat(9000)], "format"],
      [Array.from({ length: 300 }, () => "a\n\n— x AAAA\n"), "format"],
      [[5], "format"],
      [["not a note"], "key_rotation"],
      // A statement naming a key nobody holds, with a line that claims the pinned key's id.
      [
        [
          `${stream!.origin}\nattesto key-rotation v1\n0\n${verifierKeyString(stream!.origin, randomBytes(32))}\n\n— ${stream!.origin} ${Buffer.concat([Buffer.from(stream!.verifierKey.split("+")[1]!, "hex"), randomBytes(64)]).toString("base64")}\n`,
        ],
        "key_rotation",
      ],
    ];
    for (const [rotations, failing] of cases) {
      const res = await fetch(`${app.url}/v2/verify?verifier_key=${encodeURIComponent(stream!.verifierKey)}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...doc, key_rotations: rotations }),
      });
      const text = await res.text();
      expect(res.status, text.slice(0, 200)).toBeLessThan(500);
      if (res.status === 200) {
        const report = JSON.parse(text) as { valid: boolean; checks: Array<{ name: string; status: string }> };
        expect(report.valid, text.slice(0, 600)).toBe(false);
        expect(report.checks.find((c) => c.name === failing)?.status, JSON.stringify(rotations).slice(0, 60)).toBe("fail");
      }
    }
  });
});
