import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { createLogger } from "../logger.js";
import { invalidPurchase, type VerifiedPurchase } from "../store/purchase.js";
import type { TenantPrincipal } from "../tenancy/types.js";
import { createHttpApp } from "./app.js";
import { Metrics } from "./metrics.js";
import { mountStoreRoutes, type StoreRouteDeps } from "./store.js";

const purchase = (over: Partial<VerifiedPurchase>): VerifiedPurchase => ({ ...invalidPurchase(""), valid: true, ...over });

/** The store in memory: records each call with its tenant and answers a fixed verified purchase. */
function memoryStore() {
  const calls: Array<{ call: string; tenantId: string; input: unknown }> = [];
  const store: StoreRouteDeps["store"] = {
    verifyAppleTransaction: async (tenantId, input) => {
      calls.push({ call: "apple", tenantId, input });
      return { purchase: purchase({ transactionId: input.transactionId, productId: "pro", status: "active", purchasedAt: new Date("2026-01-01T00:00:00Z") }), raw: { bundleId: "com.example" } };
    },
    verifyAppleSignedData: async (tenantId, input) => {
      calls.push({ call: "apple-signed", tenantId, input });
      return {
        purchase: purchase({ transactionId: "2000" }),
        kind: "notification",
        payload: { notificationType: "DID_RENEW" },
        signedAt: new Date("2026-01-01T00:00:00Z"),
        notificationType: "DID_RENEW",
        notificationSubtype: "",
        notificationUuid: "uuid-1",
      };
    },
    verifyGooglePurchase: async (tenantId, input) => {
      calls.push({ call: "google", tenantId, input });
      return { purchase: invalidPurchase("PURCHASE_NOT_FOUND", { purchaseToken: input.purchaseToken }), raw: undefined };
    },
  };
  const notification = (source: "apple" | "google", tenantId: string) => ({
    id: "sn_1",
    source,
    externalId: "ext",
    notificationType: "T",
    subtype: "",
    environment: "sandbox",
    appId: "app",
    transactionId: "",
    originalTransactionId: "",
    productId: "",
    purchaseToken: "",
    signedAt: new Date(),
    receivedAt: new Date(),
    payload: { tenantId },
    streamId: "ps_store",
    seqNo: 4,
    arrival: "pushed" as const,
  });
  const received: Array<{ source: string; tenantId: string; authorization?: string; body: string }> = [];
  const storeNotifications: StoreRouteDeps["storeNotifications"] = {
    receiveApple: async (tenantId, body) => {
      received.push({ source: "apple", tenantId, body });
      return { notification: notification("apple", tenantId), duplicate: false };
    },
    receiveGoogle: async (tenantId, authorization, body) => {
      if (!authorization) throw new AppError("unauthenticated", "push token missing");
      received.push({ source: "google", tenantId, authorization, body });
      return { notification: notification("google", tenantId), duplicate: true };
    },
  };
  return { store, storeNotifications, calls, received };
}

const authenticator = {
  requireTenant: async (header: string | null | undefined): Promise<TenantPrincipal> => {
    if (header !== "Bearer atk_good") throw new AppError("unauthenticated", "invalid API key");
    return { kind: "tenant", tenantId: "ten_1", apiKeyId: "key_1" };
  },
};

function setup() {
  const memory = memoryStore();
  const app = createHttpApp({ logger: createLogger("silent"), metrics: new Metrics(), bodyLimitBytes: 4096, readiness: {} });
  mountStoreRoutes(app, { store: memory.store, storeNotifications: memory.storeNotifications, authenticator });
  return { app, ...memory };
}

const post = (body: unknown, key?: string) => ({
  method: "POST",
  body: typeof body === "string" ? body : JSON.stringify(body),
  headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
});

describe("store REST routes", () => {
  it("verifies an Apple transaction for the key's tenant and answers the contract message as JSON", async () => {
    const { app, calls } = setup();
    const res = await app.request("/v1/apple/verify", post({ transactionId: "1000", environment: "APPLE_ENVIRONMENT_SANDBOX" }, "atk_good"));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { purchase: Record<string, unknown>; raw: unknown };
    expect(body.purchase).toMatchObject({ valid: true, transactionId: "1000", productId: "pro", purchasedAt: "2026-01-01T00:00:00Z" });
    expect(body.raw).toEqual({ bundleId: "com.example" });
    expect(calls).toEqual([{ call: "apple", tenantId: "ten_1", input: { transactionId: "1000", environment: "sandbox" } }]);
  });

  it("accepts the proto field names too, and answers a purchase that did not verify with its error code", async () => {
    const { app, calls } = setup();
    const res = await app.request("/v1/google/verify", post({ purchase_token: "tok", product_id: "gold", kind: "PURCHASE_KIND_PRODUCT", package_name: "com.example" }, "atk_good"));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { purchase: Record<string, unknown> }).purchase).toMatchObject({ errorCode: "PURCHASE_NOT_FOUND", purchaseToken: "tok" });
    expect(calls.map((c) => c.call)).toEqual(["google"]);
  });

  it("answers a verified signed notification with its kind and payload", async () => {
    const { app } = setup();
    const res = await app.request("/v1/apple/verify-signed", post({ signedData: "a.b.c" }, "atk_good"));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ kind: "APPLE_SIGNED_DATA_KIND_NOTIFICATION", notificationType: "DID_RENEW", payload: { notificationType: "DID_RENEW" } });
  });

  it("refuses without the tenant's key, and refuses a body that is not the contract message, naming the field and calling nothing", async () => {
    const { app, calls } = setup();
    expect((await app.request("/v1/apple/verify", post({ transactionId: "1" }))).status).toBe(401);
    const cases: Array<[string, unknown]> = [
      ["/v1/apple/verify", "not json"],
      ["/v1/apple/verify", [1, 2]],
      ["/v1/apple/verify", { transactionId: "1", noSuchField: true }],
      ["/v1/apple/verify", { transactionId: "" }],
      ["/v1/google/verify", { purchaseToken: "" }],
    ];
    for (const [path, body] of cases) {
      const res = await app.request(path, post(body, "atk_good"));
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { error: { code: string; field?: string } }).error.code).toBe("invalid_argument");
    }
    expect(calls).toEqual([]);
  });

  it("hands inbound store notifications over as raw text with the tenant of the path, and answers id, duplicate and the stream position", async () => {
    const { app, received } = setup();
    const apple = await app.request("/v1/webhooks/apple/ten_9", { method: "POST", body: '{"signedPayload":"x"}' });
    expect(await apple.json()).toEqual({ id: "sn_1", duplicate: false, stream_id: "ps_store", seq_no: 4 });
    const google = await app.request("/v1/webhooks/google/ten_9", { method: "POST", body: "{}", headers: { authorization: "Bearer push-jwt" } });
    expect(((await google.json()) as { duplicate: boolean }).duplicate).toBe(true);
    expect((await app.request("/v1/webhooks/google/ten_9", { method: "POST", body: "{}" })).status).toBe(401);
    expect(received).toEqual([
      { source: "apple", tenantId: "ten_9", body: '{"signedPayload":"x"}' },
      { source: "google", tenantId: "ten_9", authorization: "Bearer push-jwt", body: "{}" },
    ]);
    // The documented form (/v1/webhooks/… is earlier versions' URL) hands over the same.
    const appleNow = await app.request("/v1/store-notifications/apple/ten_7", { method: "POST", body: '{"signedPayload":"y"}' });
    expect(await appleNow.json()).toEqual({ id: "sn_1", duplicate: false, stream_id: "ps_store", seq_no: 4 });
    expect((await app.request("/v1/store-notifications/google/ten_7", { method: "POST", body: "{}", headers: { authorization: "Bearer push-jwt" } })).status).toBe(200);
    expect(received.slice(2)).toEqual([
      { source: "apple", tenantId: "ten_7", body: '{"signedPayload":"y"}' },
      { source: "google", tenantId: "ten_7", authorization: "Bearer push-jwt", body: "{}" },
    ]);
  });
});
