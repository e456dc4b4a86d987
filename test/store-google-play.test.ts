import { generateKeyPairSync } from "node:crypto";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GooglePlayService, RevocationRefund } from "../gen/ts/attesto/v1/googleplay_pb.js";
import { PurchaseKind, StoreNotificationService, StoreVerificationService } from "../gen/ts/attesto/v1/store_pb.js";
import { RetryInfoSchema } from "../gen/ts/google/rpc/error_details_pb.js";
import { loadConfig } from "../src/config.js";
import { GOOGLE_PLAY_METHODS } from "../src/contract/googleplay-messages.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { googleAcknowledgements } from "../src/store/schema.js";
import { FakeGooglePlay } from "./support/fake-google.js";
import { runCli } from "./support/process.js";
import { adminClient, clientFor, newTenant, testEnv } from "./support/server.js";

/** GooglePlayService against the loopback Play Developer API: each endpoint's documented request, Google's failures, auto-acknowledge. */
const APP = "com.example.app";
const API = `/androidpublisher/v3/applications/${APP}`;
let play: FakeGooglePlay;
let env: Record<string, string>;
let app: Attesto;

beforeAll(async () => {
  play = await new FakeGooglePlay().start();
  env = await testEnv({
    ATTESTO_DB_POOL: "4",
    ATTESTO_GOOGLE_TOKEN_URL: play.tokenUrl,
    ATTESTO_GOOGLE_PLAY_API_URL: play.url,
    ATTESTO_STORE_UPSTREAM_TIMEOUT_MS: "1500",
    ATTESTO_DEV_TENANT: "false",
  });
  app = await startAttesto(loadConfig(env, { port: 0 }), createLogger(process.env.TEST_LOG_LEVEL ?? "silent"));
});
afterAll(async () => {
  await app?.stop();
  await play?.close();
});

let seq = 0;
async function googleTenant(opts: { autoAcknowledge?: boolean; packageName?: string } = {}) {
  const tenant = await newTenant(app.url);
  const email = `play-api-${++seq}@attesto-test.iam.gserviceaccount.com`;
  const pem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const { google } = await adminClient(app.url).putGoogleCredentials({
    tenantId: tenant.tenantId,
    packageName: opts.packageName ?? APP,
    serviceAccountJson: JSON.stringify({ type: "service_account", client_email: email, private_key: pem, private_key_id: `kid-${seq}` }),
    autoAcknowledge: opts.autoAcknowledge ?? false,
  });
  expect(google!.autoAcknowledge).toBe(opts.autoAcknowledge ?? false);
  play.registerAccount(email, pem);
  return { ...tenant, email, client: clientFor(GooglePlayService, app.url, tenant.key), verify: clientFor(StoreVerificationService, app.url, tenant.key) };
}

const failure = async (p: Promise<unknown>) =>
  ConnectError.from(
    await p.then(
      () => new Error("expected a failure"),
      (e: unknown) => e,
    ),
  );

const rest = (key: string, route: string, body: unknown) =>
  fetch(`${app.url}/v1/google/${route}`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });

/** The fake's androidpublisher requests since `from`. */
const since = (from: number) => play.calls.slice(from);
const BEARER = /^Bearer ya29\.[A-Za-z0-9_-]+$/;

let tokenSeq = 0;
function product(state: { acknowledgementState?: number; purchaseState?: number } = {}) {
  const token = `tok-p-${++tokenSeq}`;
  play.products.set(`${APP}/coins_100/${token}`, {
    kind: "androidpublisher#productPurchase",
    purchaseTimeMillis: String(Date.now() - 60_000),
    purchaseState: state.purchaseState ?? 0,
    consumptionState: 0,
    orderId: `GPA.1111-2222-3333-${String(tokenSeq).padStart(5, "0")}`,
    acknowledgementState: state.acknowledgementState ?? 0,
    purchaseType: 0,
  });
  return token;
}
function subscription(expiry = new Date(Date.now() + 30 * 86_400_000), acknowledged = false) {
  const token = `tok-s-${++tokenSeq}`;
  play.subscriptions.set(`${APP}/${token}`, {
    kind: "androidpublisher#subscriptionPurchaseV2",
    startTime: new Date(Date.now() - 86_400_000).toISOString(),
    subscriptionState: "SUBSCRIPTION_STATE_ACTIVE",
    latestOrderId: `GPA.9999-8888-7777-${String(tokenSeq).padStart(5, "0")}`,
    acknowledgementState: acknowledged ? "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED" : "ACKNOWLEDGEMENT_STATE_PENDING",
    lineItems: [{ productId: "premium", expiryTime: expiry.toISOString(), autoRenewingPlan: { autoRenewEnabled: true } }],
  });
  return token;
}

describe("GooglePlayService", () => {
  it("AcknowledgeProduct and ConsumeProduct: POST …/purchases/products/{productId}/tokens/{token}:acknowledge and :consume with the service account's token; the acknowledgement is recorded", async () => {
    const t = await googleTenant();
    const token = product();
    const from = play.calls.length;
    await t.client.acknowledgeProduct({ productId: "coins_100", purchaseToken: token, developerPayload: "order-42" });
    await t.client.consumeProduct({ productId: "coins_100", purchaseToken: token });
    const [ack, consume] = since(from);
    expect(ack).toMatchObject({ method: "POST", path: `${API}/purchases/products/coins_100/tokens/${token}:acknowledge`, query: {}, body: { developerPayload: "order-42" } });
    expect(ack!.authorization).toMatch(BEARER);
    expect(consume).toMatchObject({ method: "POST", path: `${API}/purchases/products/coins_100/tokens/${token}:consume`, query: {}, body: undefined });
    expect(consume!.authorization).toMatch(BEARER);
    expect(play.products.get(`${APP}/coins_100/${token}`)).toMatchObject({ acknowledgementState: 1, consumptionState: 1 });
    const rows = await app.database.db
      .select()
      .from(googleAcknowledgements)
      .where(and(eq(googleAcknowledgements.tenantId, t.tenantId), eq(googleAcknowledgements.purchaseToken, token)));
    expect(rows).toMatchObject([{ kind: "product", productId: "coins_100", automatic: false }]);

    const unknown = await failure(t.client.consumeProduct({ productId: "coins_100", purchaseToken: "tok-unknown" }));
    expect(unknown.code).toBe(Code.NotFound);
  });

  it("AcknowledgeSubscription: POST …/purchases/subscriptions/{subscriptionId}/tokens/{token}:acknowledge", async () => {
    const t = await googleTenant();
    const token = subscription();
    const from = play.calls.length;
    await t.client.acknowledgeSubscription({ productId: "premium", purchaseToken: token });
    expect(since(from)).toMatchObject([{ method: "POST", path: `${API}/purchases/subscriptions/premium/tokens/${token}:acknowledge`, query: {}, body: {} }]);
    expect(play.subscriptions.get(`${APP}/${token}`)!.acknowledgementState).toBe("ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED");
  });

  it("CancelSubscription and RevokeSubscription (full, prorated): subscriptionsv2 :cancel with cancellationContext, :revoke with revocationContext", async () => {
    const t = await googleTenant();
    const [a, b, c] = [subscription(), subscription(), subscription()];
    const from = play.calls.length;
    await t.client.cancelSubscription({ purchaseToken: a, cancellationType: "DEVELOPER_REQUESTED_STOP_PAYMENTS" });
    await t.client.revokeSubscription({ purchaseToken: b, refund: RevocationRefund.FULL });
    await t.client.revokeSubscription({ purchaseToken: c, refund: RevocationRefund.PRORATED });
    expect(since(from)).toMatchObject([
      { method: "POST", path: `${API}/purchases/subscriptionsv2/tokens/${a}:cancel`, body: { cancellationContext: { cancellationType: "DEVELOPER_REQUESTED_STOP_PAYMENTS" } } },
      { method: "POST", path: `${API}/purchases/subscriptionsv2/tokens/${b}:revoke`, body: { revocationContext: { fullRefund: {} } } },
      { method: "POST", path: `${API}/purchases/subscriptionsv2/tokens/${c}:revoke`, body: { revocationContext: { proratedRefund: {} } } },
    ]);
    expect(play.subscriptions.get(`${APP}/${a}`)!.subscriptionState).toBe("SUBSCRIPTION_STATE_CANCELED");
    expect(play.subscriptions.get(`${APP}/${b}`)!.subscriptionState).toBe("SUBSCRIPTION_STATE_EXPIRED");

    // No refund named: refused by field before Google is asked.
    const before = play.calls.length;
    const unnamed = await failure(t.client.revokeSubscription({ purchaseToken: c }));
    expect(unnamed.code).toBe(Code.InvalidArgument);
    expect(unnamed.rawMessage).toContain("refund");
    expect(play.calls.length).toBe(before);
  });

  it("DeferSubscription: POST …/purchases/subscriptions/{id}/tokens/{token}:defer with deferralInfo in millis; Google's refusal of a stale expiry is INVALID_ARGUMENT", async () => {
    const t = await googleTenant();
    const expiry = new Date(Date.now() + 10 * 86_400_000);
    const desired = new Date(expiry.getTime() + 7 * 86_400_000);
    const token = subscription(expiry);
    const from = play.calls.length;
    const res = await t.client.deferSubscription({
      productId: "premium",
      purchaseToken: token,
      expectedExpiryTime: timestampFromDate(expiry),
      desiredExpiryTime: timestampFromDate(desired),
    });
    expect(timestampDate(res.newExpiryTime!).getTime()).toBe(desired.getTime());
    expect(since(from)).toMatchObject([
      {
        method: "POST",
        path: `${API}/purchases/subscriptions/premium/tokens/${token}:defer`,
        body: { deferralInfo: { expectedExpiryTimeMillis: String(expiry.getTime()), desiredExpiryTimeMillis: String(desired.getTime()) } },
      },
    ]);
    // The expiry moved: the old expectation is stale now.
    const stale = await failure(
      t.client.deferSubscription({
        productId: "premium",
        purchaseToken: token,
        expectedExpiryTime: timestampFromDate(expiry),
        desiredExpiryTime: timestampFromDate(new Date(desired.getTime() + 1000)),
      }),
    );
    expect(stale.code).toBe(Code.InvalidArgument);
    expect(stale.rawMessage).toContain("INVALID_ARGUMENT");
    expect(stale.rawMessage).not.toContain("expected expiry");
    const backwards = await failure(
      t.client.deferSubscription({ productId: "premium", purchaseToken: token, expectedExpiryTime: timestampFromDate(desired), desiredExpiryTime: timestampFromDate(expiry) }),
    );
    expect(backwards.code).toBe(Code.InvalidArgument);
    expect(backwards.rawMessage).toContain("desired_expiry_time");
  });

  it("RefundOrder: POST …/orders/{orderId}:refund, revoke as a query parameter; an unknown order is NOT_FOUND", async () => {
    const t = await googleTenant();
    play.orders.add("GPA.1234-5678-9012-34567");
    const from = play.calls.length;
    await t.client.refundOrder({ orderId: "GPA.1234-5678-9012-34567", revoke: true });
    await t.client.refundOrder({ orderId: "GPA.1234-5678-9012-34567" });
    expect(since(from)).toMatchObject([
      { method: "POST", path: `${API}/orders/GPA.1234-5678-9012-34567:refund`, query: { revoke: "true" }, body: undefined },
      { method: "POST", path: `${API}/orders/GPA.1234-5678-9012-34567:refund`, query: {}, body: undefined },
    ]);
    expect((await failure(t.client.refundOrder({ orderId: "GPA.0000-0000-0000-00000" }))).code).toBe(Code.NotFound);
  });

  it("ListVoidedPurchases: GET …/purchases/voidedpurchases with startTime, endTime, maxResults, type; next pages by token (tokenPagination.nextPageToken)", async () => {
    const t = await googleTenant();
    const base = Date.now() - 3_600_000;
    for (let i = 0; i < 5; i++) play.addVoided(APP, { purchaseToken: `tok-v-${i}`, orderId: `GPA.5555-0000-0000-0000${i}`, voidedTimeMillis: base + i * 1000, subscription: i === 4 });
    const start = new Date(base - 1000);
    const end = new Date();
    const from = play.calls.length;
    const seen: string[] = [];
    let pageToken = "";
    for (;;) {
      const page = await t.client.listVoidedPurchases({ startTime: timestampFromDate(start), endTime: timestampFromDate(end), maxResults: 2, includeSubscriptions: true, pageToken });
      seen.push(...page.voidedPurchases.map((v) => v.orderId));
      if (!page.nextPageToken) break;
      pageToken = page.nextPageToken;
    }
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => `GPA.5555-0000-0000-0000${i}`));
    const calls = since(from);
    expect(calls).toHaveLength(3);
    expect(calls[0]).toMatchObject({
      method: "GET",
      path: `${API}/purchases/voidedpurchases`,
      query: { startTime: String(start.getTime()), endTime: String(end.getTime()), maxResults: "2", type: "1" },
    });
    expect(calls[1]!.query.token).toBeTruthy();
    const onlyProducts = await t.client.listVoidedPurchases({ startTime: timestampFromDate(start), endTime: timestampFromDate(end) });
    expect(onlyProducts.voidedPurchases).toHaveLength(4);
    expect(onlyProducts.voidedPurchases[0]).toMatchObject({ purchaseToken: "tok-v-0", voidedReason: 1, voidedSource: 0 });
    expect(timestampDate(onlyProducts.voidedPurchases[0]!.voidedTime!).getTime()).toBe(base);
  });

  it("maps Google's failures: 429 → RESOURCE_EXHAUSTED with Retry-After as RetryInfo, 401/403 → FAILED_PRECONDITION, 409 → FAILED_PRECONDITION, 5xx → UNAVAILABLE; Google's message is not passed on", async () => {
    const t = await googleTenant();
    const token = product();
    const call = () => t.client.acknowledgeProduct({ productId: "coins_100", purchaseToken: token });
    try {
      play.forced = { status: 429, body: { error: { code: 429, message: "Quota exceeded for secret-project", status: "RESOURCE_EXHAUSTED" } }, headers: { "retry-after": "7" } };
      const limited = await failure(call());
      expect(limited.code).toBe(Code.ResourceExhausted);
      expect(limited.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds).toBe(7n);
      expect(limited.rawMessage).not.toContain("secret-project");
      play.forced = { status: 403, body: { error: { code: 403, message: "The current user has insufficient permissions", status: "PERMISSION_DENIED" } } };
      expect((await failure(call())).code).toBe(Code.FailedPrecondition);
      play.forced = { status: 409, body: { error: { code: 409, message: "conflict", status: "FAILED_PRECONDITION" } } };
      expect((await failure(call())).code).toBe(Code.FailedPrecondition);
      play.forced = { status: 503 };
      expect((await failure(call())).code).toBe(Code.Unavailable);
    } finally {
      play.forced = undefined;
    }
    const none = await newTenant(app.url);
    const missing = await failure(clientFor(GooglePlayService, app.url, none.key).consumeProduct({ productId: "coins_100", purchaseToken: token }));
    expect(missing.code).toBe(Code.FailedPrecondition);
  });

  it("every call has its REST form, POST /v1/google/<call>, the RPC's JSON both ways", async () => {
    const t = await googleTenant();
    play.orders.add("GPA.4444-0000-0000-00000");
    const expiry = new Date(Date.now() + 5 * 86_400_000);
    const bodies: Record<string, unknown> = {
      "acknowledge-product": { productId: "coins_100", purchaseToken: product() },
      "consume-product": { productId: "coins_100", purchaseToken: product() },
      "acknowledge-subscription": { productId: "premium", purchaseToken: subscription() },
      "cancel-subscription": { purchaseToken: subscription() },
      "revoke-subscription": { purchaseToken: subscription(), refund: "REVOCATION_REFUND_PRORATED" },
      "defer-subscription": {
        productId: "premium",
        purchaseToken: subscription(expiry),
        expectedExpiryTime: expiry.toISOString(),
        desiredExpiryTime: new Date(expiry.getTime() + 86_400_000).toISOString(),
      },
      "refund-order": { orderId: "GPA.4444-0000-0000-00000" },
      "voided-purchases": {},
    };
    expect(Object.keys(bodies).sort()).toEqual(
      Object.values(GOOGLE_PLAY_METHODS)
        .map((m) => m.route)
        .sort(),
    );
    for (const [route, body] of Object.entries(bodies)) {
      const res = await rest(t.key, route, body);
      expect(res.status, `${route}: ${await res.clone().text()}`).toBe(200);
    }
    const bad = await rest(t.key, "acknowledge-product", { productId: "Coins!", purchaseToken: "x" });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("product_id");
  });

  it("attesto store google <call> runs the same table (--local)", { timeout: 120_000 }, async () => {
    const t = await googleTenant();
    const token = product();
    const from = play.calls.length;
    const res = await runCli(["--local", "--json", "store", "google", "acknowledge-product", t.tenantId, JSON.stringify({ productId: "coins_100", purchaseToken: token })], { ...process.env, ...env });
    expect(res.code, res.stderr).toBe(0);
    expect(since(from)).toMatchObject([{ method: "POST", path: `${API}/purchases/products/coins_100/tokens/${token}:acknowledge` }]);
  });
});

describe("tenant isolation", () => {
  it("each tenant's calls go with its own service account and app; B's reconciliation stores none of A's voided purchases", async () => {
    const a = await googleTenant({ packageName: "com.example.isoa" });
    const b = await googleTenant({ packageName: "com.example.isob" });
    play.addVoided("com.example.isoa", { purchaseToken: "tok-iso-a", orderId: "GPA.3333-0000-0000-00001" });
    const from = play.calls.length;
    await failure(b.client.consumeProduct({ productId: "coins_100", purchaseToken: "tok-iso-a" }));
    const listed = await b.client.listVoidedPurchases({});
    expect(listed.voidedPurchases).toEqual([]);
    expect(since(from).map((c) => [c.account, c.path.split("/")[4]])).toEqual([
      [b.email, "com.example.isob"],
      [b.email, "com.example.isob"],
    ]);
    const notificationsOf = (t: typeof a) => clientFor(StoreNotificationService, app.url, t.key);
    const reconciledB = await notificationsOf(b).reconcileNotifications({});
    expect(reconciledB.sources).toMatchObject([{ source: "google:voided", listed: 0, stored: 0 }]);
    expect((await notificationsOf(b).listNotifications({})).notifications).toEqual([]);
    const reconciledA = await notificationsOf(a).reconcileNotifications({});
    expect(reconciledA.sources).toMatchObject([{ source: "google:voided", listed: 1, stored: 1 }]);
    const [stored] = (await notificationsOf(a).listNotifications({})).notifications;
    // B cannot read A's notification by its id.
    const foreign = await failure(notificationsOf(b).getNotification({ notificationId: stored!.id }));
    expect(foreign.code).toBe(Code.NotFound);
  });
});

describe("auto-acknowledge (a per-tenant option, off by default)", () => {
  it("acknowledges a verified, unacknowledged purchase at once and says so; records it as automatic", async () => {
    const t = await googleTenant({ autoAcknowledge: true });
    const token = product();
    const from = play.calls.length;
    const res = await t.verify.verifyGooglePurchase({ productId: "coins_100", purchaseToken: token, kind: PurchaseKind.PRODUCT });
    expect(res.autoAcknowledged).toBe(true);
    expect(res.purchase).toMatchObject({ valid: true, acknowledged: true });
    expect(since(from).map((c) => `${c.method} ${c.path}`)).toEqual([
      `GET ${API}/purchases/products/coins_100/tokens/${token}`,
      `POST ${API}/purchases/products/coins_100/tokens/${token}:acknowledge`,
    ]);
    const [row] = await app.database.db
      .select()
      .from(googleAcknowledgements)
      .where(and(eq(googleAcknowledgements.tenantId, t.tenantId), eq(googleAcknowledgements.purchaseToken, token)));
    expect(row).toMatchObject({ kind: "product", productId: "coins_100", automatic: true });
    expect(row!.orderId).toMatch(/^GPA\./);

    // A subscription likewise, through subscriptions.acknowledge.
    const sub = subscription();
    const subFrom = play.calls.length;
    const subRes = await t.verify.verifyGooglePurchase({ purchaseToken: sub, kind: PurchaseKind.SUBSCRIPTION });
    expect(subRes.autoAcknowledged).toBe(true);
    expect(since(subFrom)[1]).toMatchObject({ method: "POST", path: `${API}/purchases/subscriptions/premium/tokens/${sub}:acknowledge` });

    // Already acknowledged, or pending: nothing is sent.
    const done = product({ acknowledgementState: 1 });
    const pending = product({ purchaseState: 2 });
    const quiet = play.calls.length;
    expect((await t.verify.verifyGooglePurchase({ productId: "coins_100", purchaseToken: done, kind: PurchaseKind.PRODUCT })).autoAcknowledged).toBe(false);
    expect((await t.verify.verifyGooglePurchase({ productId: "coins_100", purchaseToken: pending, kind: PurchaseKind.PRODUCT })).autoAcknowledged).toBe(false);
    expect(since(quiet).every((c) => c.method === "GET")).toBe(true);
  });

  it("an acknowledgement Google refuses leaves the verification standing, answered unacknowledged and recorded nowhere", async () => {
    const t = await googleTenant({ autoAcknowledge: true });
    const token = product();
    play.refused = { path: /:acknowledge$/, status: 503 };
    try {
      const res = await t.verify.verifyGooglePurchase({ productId: "coins_100", purchaseToken: token, kind: PurchaseKind.PRODUCT });
      expect(res).toMatchObject({ autoAcknowledged: false, purchase: { valid: true, acknowledged: false } });
    } finally {
      play.refused = undefined;
    }
    expect(await app.database.db.select().from(googleAcknowledgements).where(eq(googleAcknowledgements.purchaseToken, token))).toEqual([]);
    // Google answers again: the next verification acknowledges it.
    expect((await t.verify.verifyGooglePurchase({ productId: "coins_100", purchaseToken: token, kind: PurchaseKind.PRODUCT })).autoAcknowledged).toBe(true);
  });

  it("attesto store verify-google --local goes the same way: acknowledged at once for such a tenant", { timeout: 120_000 }, async () => {
    const t = await googleTenant({ autoAcknowledge: true });
    const token = product();
    const from = play.calls.length;
    const res = await runCli(["--local", "--json", "store", "verify-google", t.tenantId, token, "--kind", "product", "--product-id", "coins_100"], { ...process.env, ...env });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ autoAcknowledged: true, purchase: { valid: true, acknowledged: true } });
    expect(since(from).map((c) => c.method)).toEqual(["GET", "POST"]);
  });

  it("off (the default): a verification acknowledges nothing", async () => {
    const t = await googleTenant();
    const token = product();
    const from = play.calls.length;
    const res = await t.verify.verifyGooglePurchase({ productId: "coins_100", purchaseToken: token, kind: PurchaseKind.PRODUCT });
    expect(res).toMatchObject({ autoAcknowledged: false, purchase: { valid: true, acknowledged: false } });
    expect(since(from).map((c) => c.method)).toEqual(["GET"]);
  });
});
