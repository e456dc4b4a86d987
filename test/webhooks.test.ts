import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AttemptErrorKind, DeliveryStatus } from "../gen/ts/attesto/v1/webhook_pb.js";
import type { Attesto } from "../src/server/app.js";
import { WEBHOOK_EVENT_TYPES } from "../src/webhooks/event-types.js";
import { ADMIN_TOKEN, newTenant, startTestServer, tempDir } from "./support/server.js";
import { emitEvents, isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Received, type Store } from "./support/webhooks.js";

const run = promisify(execFile);

/** Delays before attempts 1..4 (compressed: the real schedule is 0, 30 s, 2 min, … 24 h). */
const SCHEDULE = [0, 300, 600, 2_500];

let store: Store;
let app: Attesto;
const receivers: Receiver[] = [];

beforeAll(async () => {
  store = await isolatedStore("main");
  app = await startWebhookServer(store, {
    webhookRetrySchedule: SCHEDULE,
    webhookTimeoutMs: 1_500,
    webhookRetryAfterMaxMs: 5_000,
    webhookRelayIntervalMs: 1_000,
    webhookRelayGraceMs: 5_000,
  });
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await app?.stop();
  await store?.drop();
});

async function receiver(port = 0) {
  const r = await Receiver.start(port);
  receivers.push(r);
  return r;
}

async function setup(eventTypes: string[] = ["proofstream.bundle_ready"], url?: string) {
  const tenant = await newTenant(app.url);
  const client = webhookClient(app, tenant.key);
  const rec = await receiver();
  const { subscription, secret } = await client.createSubscription({ name: "audit", url: url ?? rec.url(), eventTypes });
  return { tenant, client, rec, subscription: subscription!, secret: secret };
}

const bundleReady = {
  stream_id: "str_01J0000000000000000000000",
  bundle_id: "bundle_01J0000000000000000000000",
  from_seq_no: 1,
  to_seq_no: 250,
  verification_url: "https://verify.attesto.eu/v2/verify",
  verification_url_shared: false,
};

async function emit(tenantId: string, data: Record<string, unknown> = bundleReady, type: (typeof WEBHOOK_EVENT_TYPES)[number] = "proofstream.bundle_ready") {
  await emitEvents(app, tenantId, [[type, data]]);
}

const header = (r: Received, name: string) => r.headers[name] as string;

describe("subscriptions", () => {
  it("creates a subscription whose secret is shown once, lists, updates and deletes it", async () => {
    const tenant = await newTenant(app.url);
    const client = webhookClient(app, tenant.key);
    const rec = await receiver();
    const created = await client.createSubscription({
      name: "audit-notifications",
      url: rec.url(),
      eventTypes: ["batch.confirmed", "batch.failed", "batch.confirmed"],
      description: "Posts lifecycle notifications",
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const sub = created.subscription!;
    expect(sub.id).toMatch(/^sub_[0-9A-Z]{26}$/);
    expect(sub).toMatchObject({ name: "audit-notifications", url: rec.url(), eventTypes: ["batch.confirmed", "batch.failed"], enabled: true });
    expect(sub.previousSecretExpiresAt).toBeUndefined();

    const got = await client.getSubscription({ subscriptionId: sub.id });
    expect(got.subscription).toEqual(sub);
    expect(JSON.stringify(got, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toContain(created.secret);

    const second = (await client.createSubscription({ name: "b", url: rec.url(), eventTypes: ["event.anchored"] })).subscription!;
    const page1 = await client.listSubscriptions({ pageSize: 1 });
    expect(page1.subscriptions.map((s) => s.id)).toEqual([second.id]);
    const page2 = await client.listSubscriptions({ pageSize: 1, pageToken: page1.nextPageToken });
    expect(page2.subscriptions.map((s) => s.id)).toEqual([sub.id]);
    expect(page2.nextPageToken).toBe("");

    const updated = await client.updateSubscription({
      subscriptionId: sub.id,
      name: "renamed",
      eventTypes: ["proofstream.checkpointed"],
      description: "",
      enabled: false,
      updateMask: { paths: ["name", "event_types", "description", "enabled"] },
    });
    expect(updated.subscription).toMatchObject({ name: "renamed", eventTypes: ["proofstream.checkpointed"], description: "", enabled: false, disabledReason: "disabled_by_tenant" });
    const reenabled = await client.updateSubscription({ subscriptionId: sub.id, enabled: true, updateMask: { paths: ["enabled"] } });
    expect(reenabled.subscription).toMatchObject({ name: "renamed", enabled: true, disabledReason: "" });

    await client.deleteSubscription({ subscriptionId: sub.id });
    await expect(client.getSubscription({ subscriptionId: sub.id })).rejects.toMatchObject({ code: Code.NotFound });
    await expect(client.deleteSubscription({ subscriptionId: sub.id })).rejects.toMatchObject({ code: Code.NotFound });
    expect((await client.listSubscriptions({})).subscriptions.map((s) => s.id)).toEqual([second.id]);
  });

  it("rejects bad input naming the field, and writes nothing", async () => {
    const tenant = await newTenant(app.url);
    const client = webhookClient(app, tenant.key);
    const cases: Array<[Parameters<typeof client.createSubscription>[0], string]> = [
      [{ name: "", url: "https://93.184.215.14/hook", eventTypes: ["batch.failed"] }, "name: is required"],
      [{ name: "x", url: "", eventTypes: ["batch.failed"] }, "url: is required"],
      [{ name: "x", url: "not a url", eventTypes: ["batch.failed"] }, "url: must be an absolute URL"],
      [{ name: "x", url: "https://93.184.215.14/hook", eventTypes: [] }, "event_types: is required"],
      [{ name: "x", url: "https://93.184.215.14/hook", eventTypes: ["batch.failed", "nope"] }, "event_types[1]: must be one of"],
      [{ name: "x", url: "ftp://93.184.215.14/hook", eventTypes: ["batch.failed"] }, "url: must be an https:// URL"],
      [{ name: "x", url: "http://93.184.215.14/hook", eventTypes: ["batch.failed"] }, "url: must be an https:// URL (http:// is allowed for loopback receivers only)"],
      [{ name: "x", url: "https://user:pw@93.184.215.14/hook", eventTypes: ["batch.failed"] }, "url: must not contain credentials"],
      [{ name: "x", url: "https://10.1.2.3/hook", eventTypes: ["batch.failed"] }, "url: host is not publicly routable (private address)"],
    ];
    for (const [req, message] of cases) {
      const err = await client.createSubscription(req).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code, message).toBe(Code.InvalidArgument);
      expect(err?.rawMessage.startsWith(message), `${err?.rawMessage} vs ${message}`).toBe(true);
    }
    expect((await client.listSubscriptions({})).subscriptions).toEqual([]);

    const { subscription } = await client.createSubscription({ name: "ok", url: "https://93.184.215.14/hook", eventTypes: ["batch.failed"] });
    await expect(client.updateSubscription({ subscriptionId: subscription!.id, url: "https://169.254.169.254/latest", updateMask: { paths: ["url"] } })).rejects.toThrow(
      "url: host is not publicly routable (linkLocal address)",
    );
    await expect(client.updateSubscription({ subscriptionId: subscription!.id, eventTypes: ["x"], updateMask: { paths: ["event_types"] } })).rejects.toThrow("event_types[0]: must be one of");
    await expect(client.rotateSubscriptionSecret({ subscriptionId: subscription!.id, overlap: { seconds: 8n * 86400n } })).rejects.toThrow("overlap: must be at most 7 days");
    expect((await client.getSubscription({ subscriptionId: subscription!.id })).subscription!.url).toBe("https://93.184.215.14/hook");
  });

  it("keeps tenants apart: another tenant's subscription or delivery is NOT_FOUND", async () => {
    const a = await setup(["proofstream.bundle_ready"]);
    await emit(a.tenant.tenantId);
    const delivery = await waitFor(async () => (await a.client.listDeliveries({})).deliveries[0], "a delivery");
    const b = webhookClient(app, (await newTenant(app.url)).key);
    const subscriptionId = a.subscription.id;
    for (const call of [
      () => b.getSubscription({ subscriptionId }),
      () => b.updateSubscription({ subscriptionId, name: "mine", updateMask: { paths: ["name"] } }),
      () => b.deleteSubscription({ subscriptionId }),
      () => b.rotateSubscriptionSecret({ subscriptionId }),
      () => b.sendTestEvent({ subscriptionId, eventType: "batch.failed" }),
      () => b.getDelivery({ deliveryId: delivery.id }),
      () => b.redeliverDelivery({ deliveryId: delivery.id }),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: Code.NotFound });
    }
    expect((await b.listSubscriptions({})).subscriptions).toEqual([]);
    expect((await b.listDeliveries({})).deliveries).toEqual([]);
    expect((await b.listDeliveries({ subscriptionId })).deliveries).toEqual([]);
    expect((await a.client.getSubscription({ subscriptionId })).subscription!.name).toBe("audit");
  });

  it("answers UNAUTHENTICATED without a key", async () => {
    const anonymous = webhookClient(app, "atk_" + "A".repeat(43));
    await expect(anonymous.listSubscriptions({})).rejects.toMatchObject({ code: Code.Unauthenticated });
  });
});

describe("REST subscriptions (the seed's shape)", () => {
  async function rest(method: string, path: string, key: string | undefined, body?: unknown) {
    const res = await fetch(`${app.url}${path}`, {
      method,
      headers: { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : undefined };
  }

  it("creates with the seed's request body, then lists, reads, updates and deletes", async () => {
    const tenant = await newTenant(app.url);
    const rec = await receiver();
    const created = await rest("POST", "/v1/webhooks", tenant.key, {
      name: "audit-notifications",
      url: rec.url(),
      eventTypes: ["batch.confirmed", "batch.failed"],
      description: "Posts lifecycle notifications to the configured endpoint",
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: "audit-notifications",
      url: rec.url(),
      eventTypes: ["batch.confirmed", "batch.failed"],
      description: "Posts lifecycle notifications to the configured endpoint",
      enabled: true,
      disabledReason: null,
    });
    expect(created.body!.secret).toMatch(/^whsec_/);
    const id = created.body!.id as string;

    const list = await rest("GET", "/v1/webhooks", tenant.key);
    expect(list.status).toBe(200);
    expect(list.body!.webhooks.map((w: { id: string }) => w.id)).toEqual([id]);
    expect(list.body!.webhooks[0].secret).toBeUndefined();
    expect(list.body!.nextPageToken).toBe("");

    const one = await rest("GET", `/v1/webhooks/${id}`, tenant.key);
    expect(one.body).toMatchObject({ id, name: "audit-notifications" });
    expect(one.body!.secret).toBeUndefined();

    const patched = await rest("PATCH", `/v1/webhooks/${id}`, tenant.key, { eventTypes: ["event.anchored"], enabled: false });
    expect(patched.body).toMatchObject({ eventTypes: ["event.anchored"], enabled: false, disabledReason: "disabled_by_tenant" });

    // The same subscription through the RPC API.
    const rpc = await webhookClient(app, tenant.key).getSubscription({ subscriptionId: id });
    expect(rpc.subscription!.eventTypes).toEqual(["event.anchored"]);

    const other = await newTenant(app.url);
    expect((await rest("GET", `/v1/webhooks/${id}`, other.key)).status).toBe(404);
    expect((await rest("DELETE", `/v1/webhooks/${id}`, other.key)).status).toBe(404);

    expect((await rest("DELETE", `/v1/webhooks/${id}`, tenant.key)).status).toBe(204);
    expect((await rest("GET", `/v1/webhooks/${id}`, tenant.key)).status).toBe(404);
  });

  it("answers JSON errors naming the request's fields", async () => {
    const tenant = await newTenant(app.url);
    const ok = { name: "n", url: "https://93.184.215.14/hook", eventTypes: ["batch.failed"] };
    const cases: Array<[unknown, string, string]> = [
      ["{not json", "body", "body: must be a JSON object"],
      [[1, 2], "body", "body: must be a JSON object"],
      [{ ...ok, eventTypes: "batch.failed" }, "eventTypes", "eventTypes: must be an array of strings"],
      [{ ...ok, eventTypes: ["batch.failed", "bogus"] }, "eventTypes[1]", "eventTypes[1]: must be one of"],
      [{ ...ok, eventTypes: [] }, "eventTypes", "eventTypes: is required"],
      [{ ...ok, name: 7 }, "name", "name: must be a string"],
      [{ ...ok, event_types: ["batch.failed"] }, "event_types", "event_types: unknown field"],
      [{ ...ok, url: "https://192.168.0.1:8443/x" }, "url", "url: host is not publicly routable (private address)"],
      [{ ...ok, name: "x".repeat(201) }, "name", "name: must have at most 200 characters"],
    ];
    for (const [body, field, message] of cases) {
      const res = await rest("POST", "/v1/webhooks", tenant.key, body);
      expect(res.status, message).toBe(400);
      expect(res.body!.error.code).toBe("invalid_argument");
      expect(res.body!.error.field).toBe(field);
      expect(res.body!.error.message.startsWith(message), res.body!.error.message).toBe(true);
    }
    expect((await rest("GET", "/v1/webhooks?page_size=501", tenant.key)).body!.error.field).toBe("page_size");
    expect((await rest("GET", "/v1/webhooks/sub_nope", tenant.key)).body!.error.field).toBe("id");
    const anonymous = await rest("POST", "/v1/webhooks", undefined, ok);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body!.error.code).toBe("unauthenticated");
    expect((await rest("GET", "/v1/webhooks", ADMIN_TOKEN)).status).toBe(403);
    expect((await rest("GET", "/v1/webhooks", tenant.key)).body!.webhooks).toEqual([]);
  });

  it("pages with ?page_size= and ?page_token=, and refuses a query parameter it does not know", async () => {
    const tenant = await newTenant(app.url);
    const rec = await receiver();
    const ids: string[] = [];
    for (const name of ["a", "b", "c"]) ids.push((await rest("POST", "/v1/webhooks", tenant.key, { name, url: rec.url(), eventTypes: ["batch.failed"] })).body!.id);
    const first = await rest("GET", "/v1/webhooks?page_size=2", tenant.key);
    expect(first.body!.webhooks).toHaveLength(2);
    expect(first.body!.nextPageToken).not.toBe("");
    const second = await rest("GET", `/v1/webhooks?page_size=2&page_token=${first.body!.nextPageToken}`, tenant.key);
    expect(second.body!.webhooks).toHaveLength(1);
    expect(second.body!.nextPageToken).toBe("");
    expect([...first.body!.webhooks, ...second.body!.webhooks].map((w: { id: string }) => w.id).sort()).toEqual([...ids].sort());
    // The camelCase spelling the bodies use is the same parameter (issue 26, item 7).
    const camel = await rest("GET", `/v1/webhooks?pageSize=2&pageToken=${first.body!.nextPageToken}`, tenant.key);
    expect(camel.body!.webhooks.map((w: { id: string }) => w.id)).toEqual(second.body!.webhooks.map((w: { id: string }) => w.id));
    for (const [query, field] of [
      ["pagesize=1", "pagesize"],
      ["page_size=1&pageSize=1", "page_size"],
      ["page_size=abc", "page_size"],
      ["page_size=-1", "page_size"],
      ["page_token=%25%25", "page_token"],
      ["page_size=1&page_size=2", "page_size"],
    ]) {
      const res = await rest("GET", `/v1/webhooks?${query}`, tenant.key);
      expect(res.status, query).toBe(400);
      expect(res.body!.error.field, query).toBe(field);
    }
  });

  it("sends test events, lists deliveries, shows attempts, redelivers and rotates the secret", async () => {
    const tenant = await newTenant(app.url);
    const rec = await receiver();
    const created = await rest("POST", "/v1/webhooks", tenant.key, { name: "ops", url: rec.url(), eventTypes: ["batch.confirmed"] });
    const id = created.body!.id as string;

    const test = await rest("POST", `/v1/webhooks/${id}/test`, tenant.key, { eventType: "batch.failed" });
    expect(test.status).toBe(201);
    expect(test.body).toMatchObject({ subscriptionId: id, eventType: "batch.failed", test: true, status: "pending" });
    expect(test.body!.data.test).toBe(true);
    const deliveryId = test.body!.id as string;
    const path = `/v1/webhooks/${id}/deliveries/${deliveryId}`;
    const delivered = await waitFor(async () => {
      const d = (await rest("GET", path, tenant.key)).body!;
      return d.status === "succeeded" ? d : undefined;
    }, "the test delivery");
    expect(delivered.attempts).toMatchObject([{ number: 1, statusCode: 204, errorKind: "none" }]);
    expect(JSON.parse(rec.of(deliveryId)[0]!.body.toString("utf8")).data.test).toBe(true);

    const list = await rest("GET", `/v1/webhooks/${id}/deliveries?status=succeeded&event_type=batch.failed`, tenant.key);
    expect(list.body!.deliveries.map((d: { id: string }) => d.id)).toEqual([deliveryId]);
    expect(list.body!.deliveries[0].attempts).toBeUndefined();
    expect((await rest("GET", `/v1/webhooks/${id}/deliveries?status=pending`, tenant.key)).body!.deliveries).toEqual([]);
    expect((await rest("GET", `/v1/webhooks/${id}/deliveries?status=bogus`, tenant.key)).body!.error.field).toBe("status");
    expect((await rest("POST", `/v1/webhooks/${id}/test`, tenant.key, { eventType: "bogus" })).body!.error.field).toBe("eventType");

    const again = await rest("POST", `${path}/redeliver`, tenant.key);
    expect(again.status).toBe(202);
    expect(again.body!.status).toBe("pending");
    const twice = await waitFor(async () => {
      const d = (await rest("GET", path, tenant.key)).body!;
      return d.status === "succeeded" && d.attempts.length === 2 ? d : undefined;
    }, "the redelivery");
    expect(twice.attempts.map((a: { number: number }) => a.number)).toEqual([1, 2]);

    const rotated = await rest("POST", `/v1/webhooks/${id}/rotate-secret`, tenant.key, { overlapSeconds: 0 });
    expect(rotated.body!.secret).toMatch(/^whsec_/);
    expect(rotated.body!.secret).not.toBe(created.body!.secret);
    expect(rotated.body!.previousSecretExpiresAt).toBeNull();
    const keepsOverlap = await rest("POST", `/v1/webhooks/${id}/rotate-secret`, tenant.key);
    expect(Date.parse(keepsOverlap.body!.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect((await rest("POST", `/v1/webhooks/${id}/rotate-secret`, tenant.key, { overlapSeconds: 8 * 86_400 })).body!.error.field).toBe("overlapSeconds");

    // Another tenant, or another subscription of the same tenant, reads none of it.
    const other = await newTenant(app.url);
    expect((await rest("GET", `/v1/webhooks/${id}/deliveries`, other.key)).status).toBe(404);
    expect((await rest("GET", path, other.key)).status).toBe(404);
    expect((await rest("POST", `${path}/redeliver`, other.key)).status).toBe(404);
    const sibling = (await rest("POST", "/v1/webhooks", tenant.key, { name: "sibling", url: rec.url(), eventTypes: ["batch.failed"] })).body!.id;
    expect((await rest("GET", `/v1/webhooks/${sibling}/deliveries/${deliveryId}`, tenant.key)).status).toBe(404);
  });
});

const FIXTURES = path.join(import.meta.dirname, "fixtures", "seed-001");

/** The seed's Python verify(), run by python3 on a received delivery. */
async function pythonVerify(secret: string, r: Received, signature = header(r, "x-attesto-signature")): Promise<boolean> {
  const dir = await tempDir("attesto-py-");
  const bodyFile = path.join(dir, "body");
  await writeFile(bodyFile, r.body);
  const script = [
    "import os, sys",
    `sys.path.insert(0, ${JSON.stringify(FIXTURES)})`,
    "from verify import verify",
    "body = open(sys.argv[1], 'rb').read()",
    "print(verify(os.environ['SIGNING_VALUE'], body, sys.argv[2], sys.argv[3]))",
  ].join("\n");
  const { stdout } = await run("python3", ["-c", script, bodyFile, header(r, "x-attesto-timestamp"), signature], {
    env: { ...process.env, SIGNING_VALUE: secret, PYTHONDONTWRITEBYTECODE: "1" },
  });
  return stdout.trim() === "True";
}

/** Standard Webhooks verification with the reference library. */
function standardVerify(secret: string, r: Received): boolean {
  try {
    new Webhook(secret).verify(r.body.toString("utf8"), {
      "webhook-id": header(r, "webhook-id"),
      "webhook-timestamp": header(r, "webhook-timestamp"),
      "webhook-signature": header(r, "webhook-signature"),
    });
    return true;
  } catch {
    return false;
  }
}

async function deliveryOf(client: ReturnType<typeof webhookClient>, id: string) {
  return (await client.getDelivery({ deliveryId: id })).delivery!;
}

async function settled(client: ReturnType<typeof webhookClient>, id: string, timeoutMs = 20_000) {
  return waitFor(
    async () => {
      const d = await deliveryOf(client, id);
      return d.status !== DeliveryStatus.PENDING ? d : undefined;
    },
    `delivery ${id} to settle`,
    timeoutMs,
  );
}

describe("deliveries on the wire", () => {
  it("sends the seed's body and headers, verified by the seed's Python verify() and by standardwebhooks", async () => {
    const { tenant, client, rec, secret, subscription } = await setup();
    await emit(tenant.tenantId);
    const r = await waitFor(() => rec.received[0], "the delivery");
    const body = JSON.parse(r.body.toString("utf8")) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(["id", "event", "tenant_id", "created_at", "data"]);
    expect(body).toMatchObject({ event: "proofstream.bundle_ready", tenant_id: tenant.tenantId, data: bundleReady });
    expect(body.id).toMatch(/^dlv_[0-9A-Z]{26}$/);
    expect(body.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(r.method).toBe("POST");
    expect(r.headers["content-type"]).toBe("application/json");
    expect(header(r, "x-attesto-event")).toBe("proofstream.bundle_ready");
    expect(header(r, "x-attesto-delivery-id")).toBe(body.id);
    expect(header(r, "webhook-id")).toBe(body.id);
    expect(header(r, "x-attesto-attempt")).toBe("1");
    expect(header(r, "x-attesto-timestamp")).toBe(header(r, "webhook-timestamp"));
    expect(Math.abs(Number(header(r, "x-attesto-timestamp")) - Date.now() / 1000)).toBeLessThan(60);
    expect(header(r, "x-attesto-signature")).toMatch(/^[0-9a-f]{64}$/);
    expect(header(r, "x-attesto-signature")).toBe(
      createHmac("sha256", secret)
        .update(`${header(r, "x-attesto-timestamp")}.`)
        .update(r.body)
        .digest("hex"),
    );
    expect(header(r, "webhook-signature")).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);

    expect(await pythonVerify(secret, r)).toBe(true);
    expect(await pythonVerify(secret, { ...r, body: Buffer.from(r.body.toString().replace("250", "251")) })).toBe(false);
    expect(await pythonVerify("whsec_wrong", r)).toBe(false);
    expect(standardVerify(secret, r)).toBe(true);
    expect(standardVerify(secret, { ...r, headers: { ...r.headers, "webhook-id": "dlv_other" } })).toBe(false);

    const d = await settled(client, body.id as string);
    expect(d).toMatchObject({ status: DeliveryStatus.SUCCEEDED, subscriptionId: subscription.id, eventType: "proofstream.bundle_ready", url: rec.url(), test: false });
    expect(d.data).toEqual(bundleReady);
    expect(d.attempts).toHaveLength(1);
    expect(d.attempts[0]).toMatchObject({ number: 1, statusCode: 204, errorKind: AttemptErrorKind.NONE, responseExcerpt: "" });
    const listed = await client.listDeliveries({ subscriptionId: subscription.id, status: DeliveryStatus.SUCCEEDED });
    expect(listed.deliveries.map((x) => x.id)).toEqual([body.id]);
    expect(listed.deliveries[0]!.attempts).toEqual([]);
    expect((await client.listDeliveries({ eventType: "batch.failed" })).deliveries).toEqual([]);
  });

  it("is accepted by the seed's Node/express handler unchanged", async () => {
    const { tenant, client, subscription, secret } = await setup();
    const dir = await tempDir("attesto-express-");
    await import("node:fs/promises").then((fs) => fs.symlink(path.join(import.meta.dirname, "..", "node_modules"), path.join(dir, "node_modules")));
    const seedHandler = await import("node:fs/promises").then((fs) => fs.readFile(path.join(FIXTURES, "handler.mjs"), "utf8"));
    const harness = `
// Defined by the test: print each delivery once, then listen on a free loopback port.
const seen = new Set();
async function recordDeliveryOnce(deliveryId, payload) {
  const first = !seen.has(deliveryId);
  seen.add(deliveryId);
  process.stdout.write(JSON.stringify({ deliveryId, first, id: payload.id, event: payload.event }) + "\\n");
}
const server = app.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\\n"));
`;
    await writeFile(path.join(dir, "handler.mjs"), seedHandler + harness);
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, [path.join(dir, "handler.mjs")], { env: { ...process.env, ATTESTO_WEBHOOK_SIGNING_VALUE: secret }, stdio: ["ignore", "pipe", "inherit"] });
    const lines: Array<Record<string, unknown>> = [];
    let buffered = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        lines.push(JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>);
        buffered = buffered.slice(nl + 1);
      }
    });
    try {
      const { port } = (await waitFor(() => lines.find((l) => "port" in l), "the express handler to listen")) as { port: number };
      await client.updateSubscription({ subscriptionId: subscription.id, url: `http://127.0.0.1:${port}/attesto/webhook`, updateMask: { paths: ["url"] } });
      await emit(tenant.tenantId);
      const recorded = (await waitFor(() => lines.find((l) => "deliveryId" in l), "recordDeliveryOnce")) as { deliveryId: string; id: string; first: boolean; event: string };
      expect(recorded).toMatchObject({ first: true, event: "proofstream.bundle_ready" });
      expect(recorded.deliveryId).toBe(recorded.id);
      const d = await settled(client, recorded.deliveryId);
      expect(d.status).toBe(DeliveryStatus.SUCCEEDED);
      expect(d.attempts.map((a) => a.statusCode)).toEqual([204]);

      // Redelivered: same id, so the handler's dedupe sees it again.
      await client.redeliverDelivery({ deliveryId: recorded.deliveryId });
      await waitFor(() => lines.filter((l) => l.deliveryId === recorded.deliveryId).length === 2, "the redelivery");
      expect(lines.filter((l) => l.deliveryId === recorded.deliveryId).map((l) => l.first)).toEqual([true, false]);

      // A subscription with another secret is refused by the handler (401): the signature is checked.
      const other = await client.createSubscription({ name: "other", url: `http://127.0.0.1:${port}/attesto/webhook`, eventTypes: ["batch.failed"] });
      const test = await client.sendTestEvent({ subscriptionId: other.subscription!.id, eventType: "batch.failed" });
      const refused = await waitFor(async () => {
        const x = await deliveryOf(client, test.delivery!.id);
        return x.attempts[0]?.statusCode ? x : undefined;
      }, "the refused attempt");
      expect(refused.attempts[0]).toMatchObject({ statusCode: 401, errorKind: AttemptErrorKind.HTTP_STATUS });
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("signs with both secrets during a rotation's overlap, and with the new one only after", async () => {
    const { tenant, client, rec, secret: oldSecret, subscription } = await setup();
    const rotated = await client.rotateSubscriptionSecret({ subscriptionId: subscription.id });
    const newSecret = rotated.secret;
    expect(newSecret).not.toBe(oldSecret);
    const overlapEnds = Number(rotated.subscription!.previousSecretExpiresAt!.seconds) * 1000;
    expect(overlapEnds - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect(overlapEnds - Date.now()).toBeLessThanOrEqual(24 * 3600_000);

    await emit(tenant.tenantId);
    const during = await waitFor(() => rec.received[0], "a delivery during the overlap");
    expect(header(during, "webhook-signature").split(" ")).toHaveLength(2);
    expect(standardVerify(newSecret, during)).toBe(true);
    expect(standardVerify(oldSecret, during)).toBe(true);
    expect(await pythonVerify(newSecret, during)).toBe(true);
    expect(await pythonVerify(oldSecret, during)).toBe(false);

    // Rotating again with no overlap ends both older secrets at once.
    const again = await client.rotateSubscriptionSecret({ subscriptionId: subscription.id, overlap: { seconds: 0n } });
    expect(again.subscription!.previousSecretExpiresAt).toBeUndefined();
    await emit(tenant.tenantId);
    const after = await waitFor(() => rec.received[1], "a delivery after the overlap");
    expect(header(after, "webhook-signature").split(" ")).toHaveLength(1);
    expect(standardVerify(again.secret, after)).toBe(true);
    expect(standardVerify(newSecret, after)).toBe(false);
    expect(standardVerify(oldSecret, after)).toBe(false);
    expect(await pythonVerify(again.secret, after)).toBe(true);
  });
});

describe("retries", () => {
  it("follows the schedule with a stable delivery id, records every attempt, and ends failed", async () => {
    const { tenant, client, rec } = await setup();
    const answer = "é".repeat(300) + "tail";
    rec.respond = () => ({ status: 500, headers: { "content-type": "text/plain; charset=utf-8" }, body: answer });
    await emit(tenant.tenantId);
    const id = header(await waitFor(() => rec.received[0], "attempt 1"), "x-attesto-delivery-id");
    const d = await settled(client, id);
    expect(d.status).toBe(DeliveryStatus.FAILED);
    expect(d.failureReason).toBe("attempts_exhausted");
    expect(d.attemptCount).toBe(SCHEDULE.length);
    expect(d.nextAttemptAt).toBeUndefined();

    const seen = rec.of(id);
    expect(seen.map((r) => header(r, "x-attesto-attempt"))).toEqual(["1", "2", "3", "4"]);
    expect(new Set(seen.map((r) => header(r, "webhook-id")))).toEqual(new Set([id]));
    expect(new Set(seen.map((r) => r.body.toString("utf8"))).size).toBe(1);
    for (let i = 1; i < seen.length; i++) {
      // Attempt i+1 waits at least the schedule's delay after attempt i (lower bounds only).
      expect(seen[i]!.at - seen[i - 1]!.at).toBeGreaterThanOrEqual(SCHEDULE[i]!);
    }
    expect(d.attempts.map((a) => a.number)).toEqual([1, 2, 3, 4]);
    for (const a of d.attempts) {
      expect(a).toMatchObject({ statusCode: 500, errorKind: AttemptErrorKind.HTTP_STATUS });
      expect([...a.responseExcerpt]).toHaveLength(256);
      expect(a.responseExcerpt).toBe("é".repeat(256));
      expect(a.startedAt).toBeDefined();
    }
  });

  it("delivers on attempt 4 to a receiver that was down for the first 3", async () => {
    const rec = await receiver();
    const port = rec.port;
    const { tenant, client } = await setup(["proofstream.bundle_ready"], rec.url());
    await rec.close();
    await emit(tenant.tenantId);
    const id = await waitFor(async () => (await client.listDeliveries({})).deliveries[0]?.id, "the delivery");
    await waitFor(async () => (await deliveryOf(client, id)).attempts.filter((a) => a.errorKind !== AttemptErrorKind.UNSPECIFIED).length === 3, "3 failed attempts");
    const back = await receiver(port);
    const d = await settled(client, id);
    expect(d.status).toBe(DeliveryStatus.SUCCEEDED);
    expect(d.attempts.map((a) => a.errorKind)).toEqual([AttemptErrorKind.CONNECTION_REFUSED, AttemptErrorKind.CONNECTION_REFUSED, AttemptErrorKind.CONNECTION_REFUSED, AttemptErrorKind.NONE]);
    expect(d.attempts.map((a) => a.statusCode)).toEqual([0, 0, 0, 204]);
    expect(back.received.map((r) => [header(r, "x-attesto-delivery-id"), header(r, "x-attesto-attempt")])).toEqual([[id, "4"]]);
  });

  it("honours Retry-After on 429 within bounds", async () => {
    const { tenant, client, rec } = await setup();
    rec.respond = (_r, i) => (i === 0 ? { status: 429, headers: { "retry-after": "2" } } : { status: 204 });
    await emit(tenant.tenantId);
    const id = header(await waitFor(() => rec.received[0], "attempt 1"), "x-attesto-delivery-id");
    const d = await settled(client, id);
    expect(d.status).toBe(DeliveryStatus.SUCCEEDED);
    expect(d.attempts.map((a) => a.statusCode)).toEqual([429, 204]);
    const [first, second] = rec.of(id);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(2_000);
  });

  it("fails an attempt that gets no answer within the timeout", async () => {
    const { tenant, client, rec } = await setup();
    rec.respond = (_r, i) => (i === 0 ? "hang" : { status: 200, body: "ok" });
    await emit(tenant.tenantId);
    const id = header(await waitFor(() => rec.received[0], "attempt 1"), "x-attesto-delivery-id");
    const d = await settled(client, id);
    expect(d.status).toBe(DeliveryStatus.SUCCEEDED);
    expect(d.attempts.map((a) => a.errorKind)).toEqual([AttemptErrorKind.TIMEOUT, AttemptErrorKind.NONE]);
    expect(d.attempts[0]!.latencyMs).toBeGreaterThanOrEqual(1_500);
    expect(d.attempts[1]!.responseExcerpt).toBe("ok");
  });

  it("disables the subscription on 410 Gone and stops its deliveries", async () => {
    const { tenant, client, rec, subscription } = await setup();
    rec.respond = () => ({ status: 410, body: "gone" });
    await emit(tenant.tenantId);
    const id = header(await waitFor(() => rec.received[0], "attempt 1"), "x-attesto-delivery-id");
    const d = await settled(client, id);
    expect(d).toMatchObject({ status: DeliveryStatus.FAILED, failureReason: "gone", attemptCount: 1 });
    expect(d.attempts[0]).toMatchObject({ statusCode: 410, errorKind: AttemptErrorKind.HTTP_STATUS, responseExcerpt: "gone" });
    const sub = (await client.getSubscription({ subscriptionId: subscription.id })).subscription!;
    expect(sub).toMatchObject({ enabled: false, disabledReason: "gone" });

    await emit(tenant.tenantId);
    expect((await client.listDeliveries({ subscriptionId: subscription.id })).deliveries).toHaveLength(1);
    await expect(client.redeliverDelivery({ deliveryId: id })).rejects.toMatchObject({ code: Code.FailedPrecondition });
    expect(rec.received).toHaveLength(1);
  });

  it("stops a deleted subscription's pending deliveries and keeps them readable", async () => {
    const { tenant, client, rec, subscription } = await setup();
    rec.respond = () => ({ status: 500 });
    await emit(tenant.tenantId);
    const id = header(await waitFor(() => rec.received[0], "attempt 1"), "x-attesto-delivery-id");
    await waitFor(async () => (await deliveryOf(client, id)).attempts.length === 1, "attempt 1 recorded");
    await client.deleteSubscription({ subscriptionId: subscription.id });
    const d = await settled(client, id);
    expect(d).toMatchObject({ status: DeliveryStatus.FAILED, failureReason: "subscription_deleted", subscriptionId: subscription.id });
    await expect(client.redeliverDelivery({ deliveryId: id })).rejects.toMatchObject({ code: Code.FailedPrecondition });
    await expect(client.sendTestEvent({ subscriptionId: subscription.id, eventType: "batch.failed" })).rejects.toMatchObject({ code: Code.NotFound });
    // Attempt 2 was due 300 ms after attempt 1: give it the time, then make sure it never went out.
    await new Promise((r) => setTimeout(r, 800));
    expect(rec.of(id)).toHaveLength(1);
    expect((await client.listDeliveries({ subscriptionId: subscription.id })).deliveries.map((x) => x.id)).toEqual([id]);
  });

  it("does not follow a redirect to a private address", async () => {
    const target = await receiver();
    const { tenant, client, rec } = await setup();
    rec.respond = () => ({ status: 307, headers: { location: `${target.url("/internal")}` } });
    await emit(tenant.tenantId);
    const id = header(await waitFor(() => rec.received[0], "attempt 1"), "x-attesto-delivery-id");
    const d = await settled(client, id);
    expect(d.status).toBe(DeliveryStatus.FAILED);
    expect(d.attempts.map((a) => a.statusCode)).toEqual([307, 307, 307, 307]);
    expect(target.connections).toBe(0);
  });
});

describe("redelivery and test events", () => {
  it("redelivers with the same id and body as a new numbered attempt", async () => {
    const { tenant, client, rec, secret } = await setup();
    await emit(tenant.tenantId);
    const id = header(await waitFor(() => rec.received[0], "attempt 1"), "x-attesto-delivery-id");
    await settled(client, id);
    rec.respond = () => "hang";
    const redelivered = (await client.redeliverDelivery({ deliveryId: id })).delivery!;
    expect(redelivered.status).toBe(DeliveryStatus.PENDING);
    await waitFor(() => rec.of(id).length === 2, "the redelivery");
    // While its attempt is pending, another redelivery is refused.
    await expect(client.redeliverDelivery({ deliveryId: id })).rejects.toMatchObject({ code: Code.FailedPrecondition });
    const d = await settled(client, id);
    expect(d.status).toBe(DeliveryStatus.FAILED);
    expect(d.attempts.map((a) => [a.number, a.errorKind])).toEqual([
      [1, AttemptErrorKind.NONE],
      [2, AttemptErrorKind.TIMEOUT],
    ]);
    const [first, second] = rec.of(id);
    expect(second!.body.equals(first!.body)).toBe(true);
    expect(header(second!, "x-attesto-attempt")).toBe("2");
    expect(await pythonVerify(secret, second!)).toBe(true);

    rec.respond = () => ({ status: 204 });
    await client.redeliverDelivery({ deliveryId: id });
    const again = await settled(client, id);
    expect(again.status).toBe(DeliveryStatus.SUCCEEDED);
    expect(again.attempts.map((a) => a.number)).toEqual([1, 2, 3]);
  });

  it("redelivers at once even when an old retry of the delivery is still waiting in the queue", async () => {
    const { tenant, client, rec, subscription } = await setup();
    rec.respond = () => ({ status: 503, headers: { "retry-after": "5" } });
    await emit(tenant.tenantId);
    const id = header(await waitFor(() => rec.received[0], "attempt 1"), "x-attesto-delivery-id");
    await waitFor(async () => (await app.webhooks.engine.queue.getJobState(id)) === "delayed", "the retry to wait in the queue");
    // Disabling fails the delivery; its job still waits for the Retry-After.
    await client.updateSubscription({ subscriptionId: subscription.id, enabled: false, updateMask: { paths: ["enabled"] } });
    expect((await deliveryOf(client, id)).failureReason).toBe("subscription_disabled");
    await client.updateSubscription({ subscriptionId: subscription.id, enabled: true, updateMask: { paths: ["enabled"] } });
    rec.respond = () => ({ status: 204 });
    await client.redeliverDelivery({ deliveryId: id });
    expect(["waiting", "active", "completed"]).toContain(await app.webhooks.engine.queue.getJobState(id));
    const d = await settled(client, id);
    expect(d.status).toBe(DeliveryStatus.SUCCEEDED);
    expect(d.attempts.map((a) => a.statusCode)).toEqual([503, 204]);
  });

  it("sends a sample event to a subscription whatever its types, even disabled", async () => {
    const { client, rec, subscription, secret } = await setup(["batch.failed"]);
    await client.updateSubscription({ subscriptionId: subscription.id, enabled: false, updateMask: { paths: ["enabled"] } });
    for (const eventType of WEBHOOK_EVENT_TYPES) {
      const d = (await client.sendTestEvent({ subscriptionId: subscription.id, eventType })).delivery!;
      expect(d).toMatchObject({ test: true, eventType, status: DeliveryStatus.PENDING });
      const r = await waitFor(() => rec.of(d.id)[0], `the ${eventType} sample`);
      const body = JSON.parse(r.body.toString("utf8")) as { event: string; data: Record<string, unknown> };
      expect(body.event).toBe(eventType);
      expect(body.data).toEqual(d.data);
      // The body itself says it is a test, and its links point at this server.
      expect(body.data.test).toBe(true);
      for (const value of Object.values(body.data)) if (typeof value === "string" && /^https?:/.test(value)) expect(value.startsWith(app.url)).toBe(true);
      if (eventType === "proofstream.bundle_ready") expect(body.data.verification_url).toBe(`${app.url}/verify?bundle=bundle_TEST0000000000000000000000`);
      expect(standardVerify(secret, r)).toBe(true);
    }
    const checkpointed = (await client.listDeliveries({ eventType: "proofstream.checkpointed" })).deliveries[0]!;
    expect(Object.keys(checkpointed.data!).sort()).toEqual(["note", "origin", "root_hash", "signed_at", "stream_id", "test", "tree_size"]);
  });
});

describe("producers", () => {
  it("writes deliveries in the caller's transaction: nothing when it rolls back", async () => {
    const { tenant, client, rec } = await setup(["proofstream.checkpointed"]);
    await expect(
      app.database.db.transaction(async (tx) => {
        await app.webhooks.events.emit(tx, tenant.tenantId, "proofstream.checkpointed", { stream_id: "str_x", tree_size: 1 } as never);
        throw new Error("the domain change failed");
      }),
    ).rejects.toThrow("the domain change failed");
    await app.webhooks.events.emitNow(tenant.tenantId, "proofstream.bundle_ready", bundleReady);
    await emitEvents(app, (await newTenant(app.url)).tenantId, [["proofstream.checkpointed", { stream_id: "str_y" }]]);
    await emit(tenant.tenantId, { stream_id: "str_z", tree_size: 3 }, "proofstream.checkpointed");
    const r = await waitFor(() => rec.received[0], "the committed event");
    expect(JSON.parse(r.body.toString("utf8")).data).toEqual({ stream_id: "str_z", tree_size: 3 });
    const all = (await client.listDeliveries({})).deliveries;
    expect(all).toHaveLength(1);
    await expect(app.webhooks.events.emitNow(tenant.tenantId, "nope" as never, {} as never)).rejects.toThrow('unknown webhook event type "nope"');
    await expect(app.webhooks.events.emitNow(tenant.tenantId, "batch.failed", { n: 1n } as never)).rejects.toThrow("data: must be serializable as JSON");
  });

  it("fans one event out to every enabled subscription of its type, one delivery each", async () => {
    const tenant = await newTenant(app.url);
    const client = webhookClient(app, tenant.key);
    const rec = await receiver();
    const subscribed: string[] = [];
    for (let i = 0; i < 11; i++) {
      subscribed.push((await client.createSubscription({ name: `s${i}`, url: rec.url(`/s${i}`), eventTypes: ["batch.confirmed", "batch.failed"] })).subscription!.id);
    }
    const other = await client.createSubscription({ name: "other", url: rec.url("/other"), eventTypes: ["event.anchored"] });
    const disabled = await client.createSubscription({ name: "off", url: rec.url("/off"), eventTypes: ["batch.failed"] });
    await client.updateSubscription({ subscriptionId: disabled.subscription!.id, enabled: false, updateMask: { paths: ["enabled"] } });
    await emit(tenant.tenantId, { batch_id: "bat_fanout" }, "batch.failed");
    await waitFor(() => rec.received.length >= 11, "11 deliveries");
    const deliveries = (await client.listDeliveries({})).deliveries;
    expect(deliveries.map((d) => d.subscriptionId).sort()).toEqual([...subscribed].sort());
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(11);
    const bodies = rec.received.map((r) => JSON.parse(r.body.toString("utf8")) as { id: string; created_at: string; data: unknown });
    expect(bodies.map((b) => b.id).sort()).toEqual(deliveries.map((d) => d.id).sort());
    expect(new Set(bodies.map((b) => b.created_at)).size).toBe(1);
    for (const r of rec.received) expect(header(r, "x-attesto-delivery-id")).toBe(JSON.parse(r.body.toString("utf8")).id);
    expect(rec.received.some((r) => r.url === "/other" || r.url === "/off")).toBe(false);
    expect(other.subscription!.id).not.toBe(disabled.subscription!.id);
  });

  it("makes each attempt once however many workers try it at the same time", async () => {
    const { tenant, client, rec } = await setup();
    rec.respond = () => ({ status: 500 });
    await emit(tenant.tenantId);
    const id = await waitFor(async () => (await client.listDeliveries({})).deliveries[0]?.id, "the delivery");
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => app.webhooks.engine.attempt(id)));
    const d = await settled(client, id);
    // Each attempt number went to the receiver once, whoever made it.
    const numbers = rec.of(id).map((r) => header(r, "x-attesto-attempt"));
    expect(numbers).toEqual(["1", "2", "3", "4"]);
    expect(d.status).toBe(DeliveryStatus.FAILED);
    expect(d.attempts.map((a) => a.number)).toEqual([1, 2, 3, 4]);
    expect(outcomes.filter((o) => o.kind === "later").length).toBeGreaterThanOrEqual(19);
  });
});

describe("the queue board", () => {
  it("is behind operator auth: Bearer, or Basic with the token as password", async () => {
    const tenant = await newTenant(app.url);
    const anonymous = await fetch(`${app.url}/admin/queues`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Basic realm="Attesto operators"/);
    for (const authorization of [`Bearer ${tenant.key}`, `Basic ${Buffer.from(`admin:${tenant.key}`).toString("base64")}`, "Bearer nope"]) {
      expect((await fetch(`${app.url}/admin/queues/api/queues`, { headers: { authorization } })).status).toBe(401);
    }
    const page = await fetch(`${app.url}/admin/queues`, { headers: { authorization: `Basic ${Buffer.from(`ops:${ADMIN_TOKEN}`).toString("base64")}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<html");
    const api = await fetch(`${app.url}/admin/queues/api/queues`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(api.status).toBe(200);
    const { queues } = (await api.json()) as { queues: Array<{ name: string }> };
    expect(queues.map((q) => q.name)).toEqual(expect.arrayContaining(["webhook-deliveries", "periodic"]));
  });
});

describe("on the embedded PostgreSQL", () => {
  it("delivers, retries and records attempts the same way", async () => {
    const embedded = await startTestServer({
      databaseUrl: undefined,
      queuePrefix: `${store.queuePrefix}_embedded`,
      webhookAllowLoopback: true,
      webhookRetrySchedule: [0, 200],
    });
    try {
      const tenant = await newTenant(embedded.url);
      const client = webhookClient(embedded, tenant.key);
      const rec = await receiver();
      rec.respond = (_r, i) => (i === 0 ? { status: 500, body: "first" } : { status: 204 });
      const { secret } = await client.createSubscription({ name: "embedded", url: rec.url(), eventTypes: ["proofstream.bundle_ready"] });
      await emitEvents(embedded, tenant.tenantId, [["proofstream.bundle_ready", bundleReady]]);
      const id = header(await waitFor(() => rec.received[0], "attempt 1"), "x-attesto-delivery-id");
      const d = await settled(client, id);
      expect(embedded.database.embedded?.owner).toBe(true);
      expect(d.status).toBe(DeliveryStatus.SUCCEEDED);
      expect(d.attempts.map((a) => [a.number, a.statusCode, a.responseExcerpt])).toEqual([
        [1, 500, "first"],
        [2, 204, ""],
      ]);
      expect(rec.of(id).map((r) => header(r, "x-attesto-attempt"))).toEqual(["1", "2"]);
      expect(await pythonVerify(secret, rec.received[1]!)).toBe(true);
    } finally {
      await embedded.stop();
    }
  });
});
