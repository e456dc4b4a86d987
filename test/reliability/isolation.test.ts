import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN } from "../support/server.js";
import { contractServices, rpcPath, type DescMethod } from "./contract.js";
import { call, keepOutput, report, ServerProcess, serverEnv, sharedServices, sleep, tenantOn } from "./support.js";

/**
 * Isolation, generated from the contract so a new RPC cannot be missed:
 * every tenant RPC that takes a resource id, called with tenant B's key on
 * tenant A's ids, must read as NOT_FOUND (and change nothing of A's).
 */
let server: ServerProcess;
let a: { tenantId: string; key: string };
let b: { tenantId: string; key: string };
/** A's ids by the contract's field name. */
const idsOfA: Record<string, string> = {};
/** Values for the other fields a request needs to pass validation, by field name. */
const fill: Record<string, unknown> = {};

/** Id-like fields that name no tenant resource (client-chosen or provider ids). */
const NOT_RESOURCE_IDS = new Set(["request_id", "transaction_id", "original_transaction_id", "order_id", "product_id", "access_key_id", "version_id"]);
/** Services every tenant shares or that need no tenant. */
const NOT_TENANT = new Set(["attesto.admin.v1.AdminService", "attesto.v1.VerifierService"]);

const ok = async (key: string, method: string, body: unknown) => {
  const res = await call(server.url, key, method, body);
  if (res.status !== 200) throw new Error(`${method}: ${res.status} ${res.body}`);
  return res.json;
};

beforeAll(async () => {
  server = new ServerProcess("isolation", serverEnv({ ...sharedServices("isolation"), ATTESTO_CONNECTOR_ALLOW_LOOPBACK: "true" }));
  await server.start();
  [a, b] = await Promise.all([tenantOn(server.url, "tenant-a"), tenantOn(server.url, "tenant-b")]);
  const stream = (await ok(a.key, "ProofstreamService/CreateStream", { name: "a-stream" })).stream;
  idsOfA.stream_id = stream.id;
  const now = new Date().toISOString();
  const e1 = (await ok(a.key, "ProofstreamService/AppendEvent", { streamId: stream.id, sourceRef: "a-1", eventType: "x", occurredAt: now, payload: { n: 1 } })).event;
  await ok(a.key, "ProofstreamService/AppendEvent", { streamId: stream.id, sourceRef: "a-2", eventType: "x", occurredAt: now, payload: { n: 2 } });
  const checkpoint = (await ok(a.key, "ProofstreamService/CreateCheckpoint", { streamId: stream.id })).checkpoint;
  const connector = (await ok(a.key, "ConnectorService/CreateConnector", { streamId: stream.id, name: "a-con", kind: "CONNECTOR_KIND_SIGNED_WEBHOOK" })).connector;
  idsOfA.connector_id = connector.id;
  const subscription = (await ok(a.key, "WebhookService/CreateSubscription", { name: "a-sub", url: "http://127.0.0.1:9/hook", eventTypes: ["proofstream.checkpointed"] })).subscription;
  idsOfA.subscription_id = subscription.id;
  await ok(a.key, "WebhookService/SendTestEvent", { subscriptionId: subscription.id, eventType: "proofstream.checkpointed" });
  let deliveries: any[] = [];
  for (let i = 0; i < 50 && deliveries.length === 0; i++) {
    deliveries = (await ok(a.key, "WebhookService/ListDeliveries", { subscriptionId: subscription.id })).deliveries ?? [];
    if (!deliveries.length) await sleep(100);
  }
  idsOfA.delivery_id = deliveries[0].id;
  idsOfA.bundle_id = (await ok(a.key, "ProofstreamService/CreateBundle", { streamId: stream.id, fromSeqNo: "1", toSeqNo: "2" })).bundle.id;
  idsOfA.share_link_id = (await ok(a.key, "ProofstreamService/CreateBundleShareLink", { bundleId: idsOfA.bundle_id })).shareLink.id;
  idsOfA.api_key_id = (await ok(a.key, "TenantService/CreateApiKey", { name: "a-second" })).apiKey.id;
  // Resources a test cannot make A own cheaply: well-formed ids (B must get NOT_FOUND either way).
  idsOfA.fork_evidence_id = "fork_01ARZ3NDEKTSV4RRFFQ69G5FAV";
  idsOfA.notification_id = "ntf_01ARZ3NDEKTSV4RRFFQ69G5FAV";
  idsOfA.batch_id = "bat_01ARZ3NDEKTSV4RRFFQ69G5FAV";
  Object.assign(fill, {
    source_ref: "b-ref",
    event_type: "proofstream.checkpointed",
    occurred_at: now,
    payload: { from: "b" },
    seq_no: "1",
    tree_size: "2",
    from_size: "1",
    to_size: "2",
    from_seq_no: "1",
    to_seq_no: "2",
    leaf_hash: e1.leafHash,
    note: checkpoint.note,
    submitter: "b",
    name: "b-name",
    url: "http://127.0.0.1:9/b",
    event_types: ["proofstream.checkpointed"],
    key: "b/key",
    overlap: "0s",
    // RecoverDeliveries' window.
    since: "2026-01-01T00:00:00Z",
    kind: "CONNECTOR_KIND_SIGNED_WEBHOOK",
    // An update names what it changes (AIP-134); the JSON form of a FieldMask is a comma-separated string.
    update_mask: "name",
  });
});
afterAll(() => server?.stop());

function requestFor(method: DescMethod): { body: Record<string, unknown>; missing: string[] } {
  const body: Record<string, unknown> = {};
  const missing: string[] = [];
  const oneofsSet = new Set<string>();
  for (const field of method.input.fields) {
    // One member per oneof.
    if (field.oneof) {
      if (oneofsSet.has(field.oneof.name) || (fill[field.name] === undefined && idsOfA[field.name] === undefined)) continue;
      oneofsSet.add(field.oneof.name);
    }
    if (/(^|_)id$/.test(field.name) && !NOT_RESOURCE_IDS.has(field.name)) {
      if (idsOfA[field.name] === undefined) missing.push(field.name);
      else body[field.jsonName] = idsOfA[field.name];
    } else if (fill[field.name] !== undefined) {
      body[field.jsonName] = fill[field.name];
    }
  }
  return { body, missing };
}

describe("isolation", () => {
  it("every id-taking tenant RPC with tenant B's key on tenant A's ids reads as NOT_FOUND", async () => {
    const methods = (await contractServices())
      .filter((s) => !NOT_TENANT.has(s.typeName))
      .flatMap((s) => s.methods)
      .filter((m) => m.input.fields.some((f) => /(^|_)id$/.test(f.name) && !NOT_RESOURCE_IDS.has(f.name)));
    const before = (await ok(a.key, "ProofstreamService/GetStream", { streamId: idsOfA.stream_id })).stream;
    const wrong: string[] = [];
    const emptyLists: string[] = [];
    let unimplemented = 0;
    for (const method of methods) {
      const { body, missing } = requestFor(method);
      if (missing.length) {
        wrong.push(`${method.name}: no id of tenant A for ${missing.join(", ")} (add one to the suite)`);
        continue;
      }
      const res = await call(server.url, b.key, rpcPath(method).slice(1), body);
      if (res.status >= 400) keepOutput("answers-isolation", res.body + "\n");
      if (res.json?.code === "unimplemented") unimplemented++;
      // A List filtered by a foreign id that answers an empty page shows nothing of A's; it is counted apart.
      else if (res.status === 200 && method.name.startsWith("List") && Object.values(res.json ?? {}).every((v) => !Array.isArray(v) || v.length === 0)) emptyLists.push(method.name);
      else if (res.json?.code !== "not_found") wrong.push(`${method.name}: ${res.status} ${res.body.slice(0, 200)}`);
    }
    const after = (await ok(a.key, "ProofstreamService/GetStream", { streamId: idsOfA.stream_id })).stream;
    const aStillUsable = (await call(server.url, a.key, "ConnectorService/GetConnector", { connectorId: idsOfA.connector_id })).status === 200;
    report({
      section: "isolation",
      check: `${methods.length} id-taking tenant RPCs (from the contract), tenant B's key on tenant A's ids`,
      measured: `${methods.length - wrong.length - unimplemented - emptyLists.length} NOT_FOUND, ${emptyLists.length} empty lists (${emptyLists.join(", ")}), ${unimplemented} UNIMPLEMENTED (service not built), ${wrong.length} other; A's tree ${before.treeSize} → ${after.treeSize}`,
      ok: wrong.length === 0 && after.treeSize === before.treeSize && after.verifierKey === before.verifierKey && aStillUsable,
    });
    expect(wrong).toEqual([]);
    expect(after.treeSize).toBe(before.treeSize);
    // RotateStreamKey with B's key left A's keys as they were.
    expect(after.verifierKey).toBe(before.verifierKey);
    expect(after.keyHistory).toEqual(before.keyHistory);
    expect(aStillUsable).toBe(true);
  });
});

describe("isolation of the store calls without ids", () => {
  it("GooglePlayService and ReconcileNotifications act with the caller's own credentials only: B, without any, is refused though A has them", async () => {
    const admin = (method: string, body: unknown) => call(server.url, ADMIN_TOKEN, `attesto.admin.v1.AdminService/${method}`, body);
    const pem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const put = await admin("PutGoogleCredentials", {
      tenantId: a.tenantId,
      packageName: "com.example.isolation",
      serviceAccountJson: JSON.stringify({ type: "service_account", client_email: "a@isolation.iam.gserviceaccount.com", private_key: pem }),
    });
    expect(put.status).toBe(200);
    const expiry = new Date(Date.now() + 86_400_000);
    const bodies: Record<string, unknown> = {
      AcknowledgeProduct: { productId: "coins", purchaseToken: "tok-a" },
      ConsumeProduct: { productId: "coins", purchaseToken: "tok-a" },
      AcknowledgeSubscription: { productId: "premium", purchaseToken: "tok-a" },
      CancelSubscription: { purchaseToken: "tok-a" },
      RevokeSubscription: { purchaseToken: "tok-a", refund: "REVOCATION_REFUND_FULL" },
      DeferSubscription: { productId: "premium", purchaseToken: "tok-a", expectedExpiryTime: expiry.toISOString(), desiredExpiryTime: new Date(expiry.getTime() + 1000).toISOString() },
      RefundOrder: { orderId: "GPA.0000-0000-0000-00000" },
      ListVoidedPurchases: {},
    };
    const service = (await contractServices()).find((s) => s.typeName === "attesto.v1.GooglePlayService")!;
    expect(service.methods.map((m) => m.name).sort()).toEqual(Object.keys(bodies).sort());
    const wrong: string[] = [];
    for (const method of service.methods) {
      const res = await call(server.url, b.key, rpcPath(method).slice(1), bodies[method.name]);
      if (res.json?.code !== "failed_precondition" || !res.body.includes("no Google credentials")) wrong.push(`${method.name}: ${res.status} ${res.body.slice(0, 200)}`);
    }
    const reconcile = await call(server.url, b.key, "StoreNotificationService/ReconcileNotifications", {});
    if (reconcile.json?.code !== "failed_precondition") wrong.push(`ReconcileNotifications: ${reconcile.status} ${reconcile.body.slice(0, 200)}`);
    report({
      section: "isolation",
      check: `${service.methods.length + 1} store calls without resource ids (GooglePlayService, ReconcileNotifications), tenant B's key while A has Google credentials`,
      measured: `${service.methods.length + 1 - wrong.length} refused for B's own missing credentials, ${wrong.length} other`,
      ok: wrong.length === 0,
    });
    expect(wrong).toEqual([]);
  });
});
