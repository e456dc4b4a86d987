import { generateKeyPairSync } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreEnvironment } from "../gen/ts/attesto/v1/common_pb.js";
import { PurchaseKind, PurchaseStatus, StoreVerificationService } from "../gen/ts/attesto/v1/store_pb.js";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { FakeGooglePlay } from "./support/fake-google.js";
import { adminClient, clientFor, newTenant, testEnv } from "./support/server.js";

const TIMEOUT_MS = 600;
let play: FakeGooglePlay;
let app: Attesto;

beforeAll(async () => {
  play = await new FakeGooglePlay().start();
  const env = await testEnv({
    ATTESTO_DB_POOL: "4",
    ATTESTO_GOOGLE_TOKEN_URL: play.tokenUrl,
    ATTESTO_GOOGLE_PLAY_API_URL: play.url,
    ATTESTO_STORE_UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
  });
  app = await startAttesto(loadConfig(env, { port: 0 }), createLogger(process.env.TEST_LOG_LEVEL ?? "silent"));
});
afterAll(async () => {
  await app?.stop();
  await play?.close();
});

let seq = 0;
async function googleTenant(opts: { registered?: boolean } = {}) {
  const tenant = await newTenant(app.url);
  const email = `play-${++seq}@attesto-test.iam.gserviceaccount.com`;
  const pem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  await adminClient(app.url).putGoogleCredentials({
    tenantId: tenant.tenantId,
    packageName: "com.example.app",
    // token_uri points elsewhere on purpose: the configured endpoint is the one used.
    serviceAccountJson: JSON.stringify({ type: "service_account", client_email: email, private_key: pem, private_key_id: `kid-${seq}`, token_uri: "http://169.254.169.254/token" }),
  });
  if (opts.registered !== false) play.registerAccount(email, pem);
  return { ...tenant, client: clientFor(StoreVerificationService, app.url, tenant.key) };
}

const code = (err: unknown) => (err as ConnectError).code;

describe("VerifyGooglePurchase", () => {
  it("verifies a one-time product with the service account's OAuth token", async () => {
    const { client } = await googleTenant();
    play.products.set("com.example.app/coins_100/tok-p1", {
      kind: "androidpublisher#productPurchase",
      purchaseTimeMillis: String(Date.now() - 60_000),
      purchaseState: 0,
      consumptionState: 0,
      orderId: "GPA.1234-5678-9012-34567",
      acknowledgementState: 1,
      purchaseType: 0,
      obfuscatedExternalAccountId: "acct-42",
      regionCode: "US",
    });
    const res = await client.verifyGooglePurchase({ productId: "coins_100", purchaseToken: "tok-p1", kind: PurchaseKind.PRODUCT });
    expect(res.purchase).toMatchObject({
      valid: true,
      status: PurchaseStatus.ACTIVE,
      kind: PurchaseKind.PRODUCT,
      productId: "coins_100",
      transactionId: "GPA.1234-5678-9012-34567",
      appId: "com.example.app",
      environment: StoreEnvironment.SANDBOX,
      acknowledged: true,
      obfuscatedAccountId: "acct-42",
      purchaseToken: "tok-p1",
    });
    expect(res.raw?.orderId).toBe("GPA.1234-5678-9012-34567");
  });

  it("verifies a subscription (v2), checks the product id against its line items", async () => {
    const { client } = await googleTenant();
    play.subscriptions.set("com.example.app/tok-s1", {
      kind: "androidpublisher#subscriptionPurchaseV2",
      startTime: new Date(Date.now() - 86_400_000).toISOString(),
      subscriptionState: "SUBSCRIPTION_STATE_CANCELED",
      latestOrderId: "GPA.3333-4444-5555-66666..1",
      acknowledgementState: "ACKNOWLEDGEMENT_STATE_PENDING",
      lineItems: [{ productId: "pro_monthly", expiryTime: new Date(Date.now() + 86_400_000).toISOString(), autoRenewingPlan: { autoRenewEnabled: false } }],
    });
    const res = await client.verifyGooglePurchase({ purchaseToken: "tok-s1", kind: PurchaseKind.SUBSCRIPTION, productId: "pro_monthly" });
    expect(res.purchase).toMatchObject({
      valid: true,
      status: PurchaseStatus.ACTIVE,
      kind: PurchaseKind.SUBSCRIPTION,
      autoRenewing: false,
      acknowledged: false,
      environment: StoreEnvironment.PRODUCTION,
    });
    const other = await client.verifyGooglePurchase({ purchaseToken: "tok-s1", kind: PurchaseKind.SUBSCRIPTION, productId: "pro_yearly" });
    expect(other.purchase).toMatchObject({ valid: false, errorCode: "product_mismatch" });
  });

  it("caches the access token: one exchange for many lookups, one refresh in flight", async () => {
    const { client } = await googleTenant();
    play.products.set("com.example.app/coins_1/tok-c", { purchaseTimeMillis: String(Date.now()), purchaseState: 0, orderId: "GPA.1" });
    const before = play.tokenRequests;
    const answers = await Promise.all(Array.from({ length: 20 }, () => client.verifyGooglePurchase({ productId: "coins_1", purchaseToken: "tok-c", kind: PurchaseKind.PRODUCT })));
    expect(answers.every((a) => a.purchase?.valid)).toBe(true);
    await client.verifyGooglePurchase({ productId: "coins_1", purchaseToken: "tok-c", kind: PurchaseKind.PRODUCT });
    expect(play.tokenRequests - before).toBe(1);
  });

  it("exchanges again when Google stops honouring the token", async () => {
    const { client } = await googleTenant();
    play.products.set("com.example.app/coins_2/tok-r", { purchaseTimeMillis: String(Date.now()), purchaseState: 0, orderId: "GPA.2" });
    await client.verifyGooglePurchase({ productId: "coins_2", purchaseToken: "tok-r", kind: PurchaseKind.PRODUCT });
    const before = play.tokenRequests;
    play.revokeTokens();
    expect((await client.verifyGooglePurchase({ productId: "coins_2", purchaseToken: "tok-r", kind: PurchaseKind.PRODUCT })).purchase?.valid).toBe(true);
    expect(play.tokenRequests - before).toBe(1);
  });

  it("answers unknown tokens as valid = false and maps Google's failures", async () => {
    const { client, key } = await googleTenant();
    expect((await client.verifyGooglePurchase({ productId: "coins_9", purchaseToken: "nope", kind: PurchaseKind.PRODUCT })).purchase).toMatchObject({ valid: false, errorCode: "purchase_not_found" });
    try {
      play.forced = { status: 410, body: { error: { code: 410, status: "GONE" } } };
      expect((await client.verifyGooglePurchase({ purchaseToken: "old", kind: PurchaseKind.SUBSCRIPTION })).purchase).toMatchObject({ valid: false, errorCode: "purchase_gone" });
      play.forced = { status: 429, headers: { "retry-after": "11" } };
      expect(code(await client.verifyGooglePurchase({ purchaseToken: "x", kind: PurchaseKind.SUBSCRIPTION }).catch((e: unknown) => e))).toBe(Code.ResourceExhausted);
      const rest = await fetch(`${app.url}/v1/google/verify`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ purchaseToken: "x", kind: "PURCHASE_KIND_SUBSCRIPTION" }),
      });
      expect(rest.status).toBe(429);
      expect(rest.headers.get("retry-after")).toBe("11");
      play.forced = { status: 503 };
      expect(code(await client.verifyGooglePurchase({ purchaseToken: "x", kind: PurchaseKind.SUBSCRIPTION }).catch((e: unknown) => e))).toBe(Code.Unavailable);
      play.forced = { status: 403, body: { error: { code: 403, status: "PERMISSION_DENIED" } } };
      expect(code(await client.verifyGooglePurchase({ purchaseToken: "x", kind: PurchaseKind.SUBSCRIPTION }).catch((e: unknown) => e))).toBe(Code.FailedPrecondition);
      play.forced = undefined;
      play.delayMs = TIMEOUT_MS * 3;
      const started = Date.now();
      expect(code(await client.verifyGooglePurchase({ purchaseToken: "x", kind: PurchaseKind.SUBSCRIPTION }).catch((e: unknown) => e))).toBe(Code.Unavailable);
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS * 3);
    } finally {
      play.forced = undefined;
      play.delayMs = 0;
    }
  });

  it("answers FAILED_PRECONDITION when Google refuses the service account or there is none", async () => {
    const { client } = await googleTenant({ registered: false });
    expect(code(await client.verifyGooglePurchase({ purchaseToken: "x", kind: PurchaseKind.SUBSCRIPTION }).catch((e: unknown) => e))).toBe(Code.FailedPrecondition);
    const bare = await newTenant(app.url);
    const err = await clientFor(StoreVerificationService, app.url, bare.key)
      .verifyGooglePurchase({ purchaseToken: "x", kind: PurchaseKind.SUBSCRIPTION })
      .catch((e: unknown) => e);
    expect(code(err)).toBe(Code.FailedPrecondition);
  });

  it("answers INVALID_ARGUMENT naming the field", async () => {
    const { client } = await googleTenant();
    const noProduct = (await client.verifyGooglePurchase({ purchaseToken: "x", kind: PurchaseKind.PRODUCT }).catch((e: unknown) => e)) as ConnectError;
    expect(noProduct.code).toBe(Code.InvalidArgument);
    expect(noProduct.rawMessage).toContain("product_id");
    const noKind = (await client.verifyGooglePurchase({ purchaseToken: "x" }).catch((e: unknown) => e)) as ConnectError;
    expect(noKind.code).toBe(Code.InvalidArgument);
    expect(noKind.rawMessage).toContain("kind");
  });
});
