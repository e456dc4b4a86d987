import { generateKeyPairSync } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppStoreService } from "../gen/ts/attesto/v1/appstore_pb.js";
import { AppleEnvironment } from "../gen/ts/attesto/v1/common_pb.js";
import { StoreNotificationService } from "../gen/ts/attesto/v1/store_pb.js";
import { RetryInfoSchema } from "../gen/ts/google/rpc/error_details_pb.js";
import { loadConfig } from "../src/config.js";
import { APP_STORE_METHODS } from "../src/contract/appstore-messages.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { makeAppleChain, transactionPayload, writeRootPem, type TestAppleChain } from "./support/apple-chain.js";
import { FakeAppStore } from "./support/fake-app-store.js";
import { adminClient, clientFor, newTenant, tempDir, testEnv } from "./support/server.js";

/** AppStoreService against the loopback App Store Server API: every endpoint, its documented request shape, and Apple's failures. */
const TIMEOUT_MS = 1500;
const ISSUER = "57246542-96fe-1a63-e053-0824d011072a";
let chain: TestAppleChain;
let fake: FakeAppStore;
let app: Attesto;

beforeAll(async () => {
  chain = await makeAppleChain();
  fake = await new FakeAppStore(chain).start();
  const env = await testEnv({
    ATTESTO_DB_POOL: "4",
    ATTESTO_APPLE_ROOT_CERTS: await writeRootPem(await tempDir(), chain.root),
    ATTESTO_APPLE_API_PRODUCTION_URL: fake.productionUrl,
    ATTESTO_APPLE_API_SANDBOX_URL: fake.sandboxUrl,
    ATTESTO_STORE_UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
  });
  app = await startAttesto(loadConfig(env, { port: 0, webhookAllowLoopback: true }), createLogger(process.env.TEST_LOG_LEVEL ?? "silent"));
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

let keySeq = 0;
/** A tenant whose App Store Connect key the fake knows (unless registered is false); its app is `bundleId`. */
async function appleTenant(opts: { bundleId?: string; registered?: boolean } = {}) {
  const tenant = await newTenant(app.url);
  const bundleId = opts.bundleId ?? "com.example.app";
  const pem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const keyId = `ASA${String(++keySeq).padStart(7, "0")}`;
  await adminClient(app.url).putAppleCredentials({ tenantId: tenant.tenantId, bundleId, keyId, issuerId: ISSUER, privateKeyPem: pem, environment: AppleEnvironment.PRODUCTION });
  if (opts.registered !== false) fake.registerPem(keyId, ISSUER, bundleId, pem);
  return { ...tenant, keyId, bundleId, client: clientFor(AppStoreService, app.url, tenant.key) };
}

const failure = async (p: Promise<unknown>) =>
  ConnectError.from(
    await p.then(
      () => new Error("expected a failure"),
      (e: unknown) => e,
    ),
  );

const rest = (key: string, route: string, body: unknown) =>
  fetch(`${app.url}/v1/apple/${route}`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });

/** The fake's requests since `from`. */
const since = (from: number) => fake.requests.slice(from);

let txSeq = 4_000_000_000_000_000;
/** A customer's transactions in Production, ids ascending. */
function customer(count: number, overrides: (i: number, id: string) => Record<string, unknown> = () => ({})): string[] {
  const ids: string[] = [];
  const base = Date.now() - count * 60_000;
  for (let i = 0; i < count; i++) {
    const id = String(++txSeq);
    ids.push(id);
    fake.transactions.production.set(
      id,
      transactionPayload({ transactionId: id, originalTransactionId: ids[0], environment: "Production", purchaseDate: base + i * 1000, signedDate: base + i * 1000, ...overrides(i, id) }),
    );
  }
  return ids;
}

describe("GetTransactionHistory", () => {
  it("pages by revision with hasMore, passes the filters as Apple documents them, and verifies every transaction", async () => {
    const t = await appleTenant();
    fake.transactions.production.clear();
    const ids = customer(25, (i) => ({ type: i % 2 ? "Consumable" : "Auto-Renewable Subscription", productId: i % 2 ? "com.example.app.coins" : "com.example.app.pro" }));
    fake.pageSize = 10;
    try {
      const from = fake.requests.length;
      const seen: string[] = [];
      let revision = "";
      let pages = 0;
      for (;;) {
        const page = await t.client.getTransactionHistory({ transactionId: ids[3]!, revision });
        pages++;
        expect(page.transactions.every((tx) => tx.purchase?.valid)).toBe(true);
        seen.push(...page.transactions.map((tx) => tx.purchase!.transactionId));
        expect(page).toMatchObject({ environment: "Production", bundleId: "com.example.app", appAppleId: 1234567890n });
        if (!page.hasMore) break;
        revision = page.revision;
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(ids);
      const requests = since(from);
      expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual(Array(3).fill(`GET /inApps/v2/history/${ids[3]}`));
      expect(requests[0]!.query.has("revision")).toBe(false);
      expect(requests[1]!.query.get("revision")).toBeTruthy();
      // One token for the calls of its lifetime, with Apple's claims.
      expect(new Set(requests.map((r) => JSON.stringify(r.claims))).size).toBe(1);
      const claims = requests[0]!.claims!;
      expect(claims).toMatchObject({ aud: "appstoreconnect-v1", bid: "com.example.app", iss: ISSUER });
      expect((claims.exp as number) - (claims.iat as number)).toBeLessThanOrEqual(3600);
      expect(requests[0]!.header).toMatchObject({ alg: "ES256", kid: t.keyId, typ: "JWT" });

      const before = fake.requests.length;
      const filtered = await t.client.getTransactionHistory({
        transactionId: ids[0]!,
        productTypes: ["CONSUMABLE"],
        productIds: ["com.example.app.coins"],
        sort: "DESCENDING",
        startDate: timestampFromDate(new Date(0)),
        revoked: false,
      });
      const q = since(before)[0]!.query;
      expect(q.getAll("productType")).toEqual(["CONSUMABLE"]);
      expect(q.getAll("productId")).toEqual(["com.example.app.coins"]);
      expect(q.get("sort")).toBe("DESCENDING");
      expect(q.get("startDate")).toBe("0");
      expect(q.get("revoked")).toBe("false");
      expect(filtered.transactions.map((tx) => tx.purchase!.transactionId)).toEqual(
        ids
          .filter((_, i) => i % 2)
          .reverse()
          .slice(0, 10),
      );
    } finally {
      fake.pageSize = 20;
    }
  });

  it("refuses a tampered transaction in Apple's answer with its reason and returns the others", async () => {
    const t = await appleTenant();
    fake.transactions.production.clear();
    const ids = customer(3);
    fake.tampered.add(ids[1]!);
    try {
      const page = await t.client.getTransactionHistory({ transactionId: ids[0]! });
      expect(page.transactions.map((tx) => tx.purchase!.valid)).toEqual([true, false, true]);
      expect(page.transactions[1]!.purchase!.errorCode).toBe("signature_invalid");
      expect(page.transactions[1]!.payload).toBeUndefined();
    } finally {
      fake.tampered.clear();
    }
  });

  it("answers NOT_FOUND for an id Apple does not know and INVALID_ARGUMENT naming the field before asking Apple", async () => {
    const t = await appleTenant();
    expect((await failure(t.client.getTransactionHistory({ transactionId: "4999999999999999999" }))).code).toBe(Code.NotFound);
    const before = fake.requests.length;
    const bad = await failure(t.client.getTransactionHistory({ transactionId: "1", productTypes: ["GIFT"] }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.rawMessage).toContain("product_types");
    expect(fake.requests.length).toBe(before);
  });
});

describe("the other App Store Server API calls", () => {
  it("GetAllSubscriptionStatuses: by group, with verified transaction and renewal info, filtered by status", async () => {
    const t = await appleTenant();
    fake.transactions.production.clear();
    const ids = customer(2, (_, id) => ({
      type: "Auto-Renewable Subscription",
      subscriptionGroupIdentifier: "21000001",
      expiresDate: Date.now() + 86_400_000,
      originalTransactionId: id,
    }));
    fake.subscriptionStatus.set(ids[1]!, 2);
    const all = await t.client.getAllSubscriptionStatuses({ transactionId: ids[0]! });
    expect(all.data).toHaveLength(1);
    expect(all.data[0]!.subscriptionGroupIdentifier).toBe("21000001");
    expect(all.data[0]!.lastTransactions.map((l) => [l.originalTransactionId, l.status]).sort()).toEqual([
      [ids[0], 1],
      [ids[1], 2],
    ]);
    for (const last of all.data[0]!.lastTransactions) {
      expect(last.transaction?.purchase?.valid).toBe(true);
      expect(last.renewalInfo?.purchase?.valid).toBe(true);
    }
    const before = fake.requests.length;
    const active = await t.client.getAllSubscriptionStatuses({ transactionId: ids[0]!, statuses: [1] });
    expect(since(before)[0]!.query.getAll("status")).toEqual(["1"]);
    expect(active.data[0]!.lastTransactions.map((l) => l.originalTransactionId)).toEqual([ids[0]]);
  });

  it("LookUpOrderId and GetRefundHistory", async () => {
    const t = await appleTenant();
    fake.transactions.production.clear();
    const ids = customer(3, (i) => (i === 2 ? { revocationDate: Date.now(), revocationReason: 0 } : {}));
    fake.orders.production.set("MQ7XG2LJN3", [ids[0]!, ids[1]!]);
    const order = await t.client.lookUpOrderId({ orderId: "MQ7XG2LJN3" });
    expect(order.valid).toBe(true);
    expect(order.transactions.map((tx) => tx.purchase!.transactionId)).toEqual([ids[0], ids[1]]);
    expect(await t.client.lookUpOrderId({ orderId: "NOSUCHORDER" })).toMatchObject({ valid: false, transactions: [] });

    const refunds = await t.client.getRefundHistory({ transactionId: ids[0]! });
    expect(refunds.transactions.map((tx) => tx.purchase!.transactionId)).toEqual([ids[2]]);
    expect(refunds.hasMore).toBe(false);
    expect(refunds.transactions[0]!.purchase!.revokedAt).toBeDefined();
  });

  it("GetNotificationHistory: the window as Apple's millisecond dates, paged by paginationToken, with send attempts", async () => {
    const t = await appleTenant();
    fake.notifications.production = [];
    for (let i = 0; i < 5; i++) {
      await fake.push("production", { notificationType: "DID_RENEW", notificationUUID: crypto.randomUUID(), data: { bundleId: "com.example.app", environment: "Production" } }, false);
    }
    fake.notifications.production[1]!.sendAttempts.push({ attemptDate: Date.now(), sendAttemptResult: "TIMED_OUT" });
    fake.pageSize = 2;
    try {
      const start = new Date(Date.now() - 3600_000);
      const end = new Date(Date.now() + 1000);
      const from = fake.requests.length;
      const uuids: string[] = [];
      let paginationToken = "";
      for (;;) {
        const page = await t.client.getNotificationHistory({ startDate: timestampFromDate(start), endDate: timestampFromDate(end), paginationToken });
        for (const n of page.notificationHistory) {
          expect(n.notification!.purchase!.valid).toBe(true);
          uuids.push(n.notification!.notificationUuid);
        }
        if (!page.hasMore) break;
        paginationToken = page.paginationToken;
      }
      expect(uuids).toEqual(fake.notifications.production.map((n) => n.payload.notificationUUID));
      const requests = since(from);
      expect(requests).toHaveLength(3);
      expect(requests[0]).toMatchObject({ method: "POST", path: "/inApps/v1/notifications/history", body: { startDate: start.getTime(), endDate: end.getTime() } });
      expect(requests[1]!.query.get("paginationToken")).toBeTruthy();

      fake.pageSize = 20;
      const failures = await t.client.getNotificationHistory({ startDate: timestampFromDate(start), endDate: timestampFromDate(end), onlyFailures: true });
      expect(failures.notificationHistory).toHaveLength(5);
      const timedOut = failures.notificationHistory.find((n) => n.sendAttempts.length > 0)!;
      expect(timedOut.sendAttempts[0]!.sendAttemptResult).toBe("TIMED_OUT");

      const old = await failure(t.client.getNotificationHistory({ startDate: timestampFromDate(new Date(Date.now() - 200 * 86_400_000)), endDate: timestampFromDate(end) }));
      expect(old.code).toBe(Code.InvalidArgument);
      expect(old.rawMessage).toContain("4000018");
    } finally {
      fake.pageSize = 20;
    }
  });

  it("RequestTestNotification: Apple sends TEST to the tenant's route, where it is verified and stored; GetTestNotificationStatus shows the attempt", async () => {
    const t = await appleTenant();
    fake.notificationUrl.production = `${app.url}/v1/webhooks/apple/${t.tenantId}`;
    try {
      const { testNotificationToken } = await t.client.requestTestNotification({});
      expect(testNotificationToken).toBeTruthy();
      const status = await t.client.getTestNotificationStatus({ testNotificationToken });
      expect(status.notification).toMatchObject({ notificationType: "TEST", purchase: { valid: true } });
      expect(status.sendAttempts.map((a) => a.sendAttemptResult)).toEqual(["SUCCESS"]);
      const { notifications } = await clientFor(StoreNotificationService, app.url, t.key).listNotifications({});
      expect(notifications.map((n) => [n.notificationType, n.notificationUuid])).toEqual([["TEST", status.notification!.notificationUuid]]);
    } finally {
      fake.notificationUrl = {};
    }
  });

  it("SendConsumptionInformation sends Apple's ConsumptionRequest and refuses a request without consent by field", async () => {
    const t = await appleTenant();
    const [id] = customer(1);
    await t.client.sendConsumptionInformation({ transactionId: id!, customerConsented: true, consumptionStatus: 2, platform: 1, deliveryStatus: 0, refundPreference: 2, playTime: 3 });
    const sent = fake.received.findLast((r) => r.kind === "consumption")!;
    expect(sent.id).toBe(id);
    expect(sent.body).toMatchObject({
      customerConsented: true,
      consumptionStatus: 2,
      platform: 1,
      deliveryStatus: 0,
      refundPreference: 2,
      playTime: 3,
      sampleContentProvided: false,
      appAccountToken: "",
    });
    const refused = await failure(t.client.sendConsumptionInformation({ transactionId: id!, customerConsented: false }));
    expect(refused.code).toBe(Code.InvalidArgument);
    expect(refused.rawMessage).toContain("customer_consented");
  });

  it("ExtendSubscriptionRenewalDate, MassExtendSubscriptionRenewalDate and GetMassExtensionStatus", async () => {
    const t = await appleTenant();
    const [id] = customer(1, () => ({ type: "Auto-Renewable Subscription", expiresDate: Date.now() + 86_400_000, webOrderLineItemId: "1000000000000123" }));
    const before = fake.requests.length;
    const extended = await t.client.extendSubscriptionRenewalDate({ originalTransactionId: id!, extendByDays: 7, extendReasonCode: 3, requestIdentifier: "b1a3c2d4-0000-4000-8000-000000000001" });
    expect(extended).toMatchObject({ success: true, originalTransactionId: id, webOrderLineItemId: "1000000000000123" });
    expect(since(before)[0]).toMatchObject({
      method: "PUT",
      path: `/inApps/v1/subscriptions/extend/${id}`,
      body: { extendByDays: 7, extendReasonCode: 3, requestIdentifier: "b1a3c2d4-0000-4000-8000-000000000001" },
    });
    expect((await failure(t.client.extendSubscriptionRenewalDate({ originalTransactionId: id!, extendByDays: 91, requestIdentifier: "x" }))).rawMessage).toContain("extend_by_days");

    const mass = await t.client.massExtendSubscriptionRenewalDate({
      productId: "com.example.app.pro",
      extendByDays: 3,
      extendReasonCode: 1,
      requestIdentifier: "mass-1",
      storefrontCountryCodes: ["USA", "DEU"],
    });
    expect(mass.requestIdentifier).toBe("mass-1");
    expect(fake.massExtensions.get("com.example.app.pro/mass-1")!.body).toMatchObject({ storefrontCountryCodes: ["USA", "DEU"], extendByDays: 3 });
    const status = await t.client.getMassExtensionStatus({ productId: "com.example.app.pro", requestIdentifier: "mass-1" });
    expect(status).toMatchObject({ requestIdentifier: "mass-1", complete: true, failedCount: 0n });
    expect(status.completeDate).toBeDefined();
    expect((await failure(t.client.getMassExtensionStatus({ productId: "com.example.app.pro", requestIdentifier: "never" }))).code).toBe(Code.NotFound);
  });

  it("SetAppAccountToken and GetAppTransactionInfo", async () => {
    const t = await appleTenant();
    const [id] = customer(1);
    const token = "7e3fb20b-4cdb-47cc-936d-99d65f608138";
    await t.client.setAppAccountToken({ originalTransactionId: id!, appAccountToken: token });
    expect(fake.received.findLast((r) => r.kind === "appAccountToken")).toMatchObject({ id, body: { appAccountToken: token } });
    expect((await failure(t.client.setAppAccountToken({ originalTransactionId: id!, appAccountToken: "not-a-uuid" }))).rawMessage).toContain("app_account_token");

    const { appTransaction } = await t.client.getAppTransactionInfo({ transactionId: id! });
    expect(appTransaction!.purchase!.valid).toBe(true);
    expect(appTransaction!.payload).toMatchObject({ bundleId: "com.example.app", receiptType: "Production", applicationVersion: "1.0" });
  });
});

describe("Apple's failures", () => {
  it("429: RESOURCE_EXHAUSTED with Apple's Retry-After as RetryInfo, and 429 with Retry-After on REST", async () => {
    const t = await appleTenant();
    const [id] = customer(1);
    fake.forced = { status: 429, body: { errorCode: 4290000, errorMessage: "Rate limit exceeded." }, headers: { "retry-after": "11" } };
    try {
      const err = await failure(t.client.getRefundHistory({ transactionId: id! }));
      expect(err.code).toBe(Code.ResourceExhausted);
      expect(Number(err.findDetails(RetryInfoSchema)[0]!.retryDelay!.seconds)).toBe(11);
      const res = await rest(t.key, "refund-history", { transactionId: id });
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("11");
    } finally {
      fake.forced = undefined;
    }
  });

  it("5xx is retried within the budget: two 503s then the answer; a lasting 500 is UNAVAILABLE, fast", async () => {
    const t = await appleTenant();
    const [id] = customer(1);
    fake.queued.push({ status: 503 }, { status: 503 });
    const before = fake.requests.length;
    const { appTransaction } = await t.client.getAppTransactionInfo({ transactionId: id! });
    expect(appTransaction!.purchase!.valid).toBe(true);
    expect(fake.requests.length - before).toBe(3);
    fake.forced = { status: 500, body: { errorCode: 5000000, errorMessage: "An unknown error occurred." } };
    try {
      const started = Date.now();
      const err = await failure(t.client.getAppTransactionInfo({ transactionId: id! }));
      expect(err.code).toBe(Code.Unavailable);
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 500);
    } finally {
      fake.forced = undefined;
    }
  });

  it("401 and 403 are FAILED_PRECONDITION saying what Apple refuses; no credentials likewise", async () => {
    const unknownKey = await appleTenant({ registered: false });
    const revoked = await failure(unknownKey.client.requestTestNotification({}));
    expect(revoked.code).toBe(Code.FailedPrecondition);
    expect(revoked.rawMessage).toContain("revoked");
    const t = await appleTenant();
    fake.forced = { status: 403, body: { errorCode: 4030000, errorMessage: "Forbidden." } };
    try {
      const denied = await failure(t.client.requestTestNotification({}));
      expect(denied.code).toBe(Code.FailedPrecondition);
      expect(denied.rawMessage).toContain("not be approved");
    } finally {
      fake.forced = undefined;
    }
    const none = await newTenant(app.url);
    expect((await failure(clientFor(AppStoreService, app.url, none.key).requestTestNotification({}))).code).toBe(Code.FailedPrecondition);
  });
});

describe("POST /v1/apple/<call>", () => {
  it("answers the RPC's response as JSON, and 400 naming the field", async () => {
    const t = await appleTenant();
    fake.transactions.production.clear();
    const ids = customer(2);
    const res = await rest(t.key, "transaction-history", { transactionId: ids[0], sort: "DESCENDING" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { transactions: Array<{ purchase: { transactionId: string; valid: boolean } }>; hasMore?: boolean };
    expect(body.transactions.map((tx) => tx.purchase.transactionId)).toEqual([ids[1], ids[0]]);
    const bad = await rest(t.key, "transaction-history", { transactionId: "12a" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { field: string } }).error.field).toBe("transaction_id");
    expect((await rest("atk_wrong", "test-notification", {})).status).toBe(401);
  });
});

describe("tenant isolation", () => {
  it("every call runs with the caller's own key only: a tenant without Apple credentials is refused on every RPC and route, with A's ids, and Apple sees no call", async () => {
    const a = await appleTenant();
    const [id] = customer(1);
    const b = await newTenant(app.url);
    const filled: Record<string, unknown> = {
      transactionId: id,
      originalTransactionId: id,
      orderId: "MQ7XG2LJN3",
      testNotificationToken: "token-of-a",
      productId: "com.example.app.pro",
      requestIdentifier: "req-of-a",
      appAccountToken: "7e3fb20b-4cdb-47cc-936d-99d65f608138",
      extendByDays: 1,
      customerConsented: true,
      startDate: new Date(Date.now() - 3600_000).toISOString(),
      endDate: new Date().toISOString(),
    };
    const before = fake.requests.length;
    for (const m of AppStoreService.methods) {
      const body = Object.fromEntries(m.input.fields.filter((f) => filled[f.jsonName] !== undefined).map((f) => [f.jsonName, filled[f.jsonName]]));
      const rpc = await fetch(`${app.url}/attesto.v1.AppStoreService/${m.name}`, {
        method: "POST",
        headers: { authorization: `Bearer ${b.key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const answer = (await rpc.json()) as { code: string; message: string };
      expect(answer.code, m.name).toBe("failed_precondition");
      expect(answer.message, m.name).toContain("no Apple credentials");
      const route = APP_STORE_METHODS[m.localName as keyof typeof APP_STORE_METHODS].route;
      const res = await rest(b.key, route, body);
      expect(res.status, route).toBe(412);
    }
    expect(fake.requests.length).toBe(before);
    // A's own calls still work.
    expect((await a.client.getAppTransactionInfo({ transactionId: id! })).appTransaction!.purchase!.valid).toBe(true);
  });
});
