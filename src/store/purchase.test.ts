import { describe, expect, it } from "vitest";
import { applePurchaseFromRenewalInfo, applePurchaseFromTransaction, googlePurchaseFromProduct, googlePurchaseFromSubscription } from "./purchase.js";

const NOW = Date.parse("2026-06-07T12:00:00Z");
const HOUR = 3600_000;

describe("Apple envelopes", () => {
  it("a subscription transaction is active before expiresDate, expired after, revoked when revoked", () => {
    const tx = { transactionId: "1", originalTransactionId: "1", bundleId: "b", productId: "p", type: "Auto-Renewable Subscription", purchaseDate: NOW - HOUR, environment: "Production" };
    expect(applePurchaseFromTransaction({ ...tx, expiresDate: NOW + HOUR }, NOW)).toMatchObject({ valid: true, status: "active", kind: "subscription", environment: "production" });
    expect(applePurchaseFromTransaction({ ...tx, expiresDate: NOW - 1 }, NOW).status).toBe("expired");
    expect(applePurchaseFromTransaction({ ...tx, expiresDate: NOW + HOUR, revocationDate: NOW - 5 }, NOW)).toMatchObject({ status: "revoked", revokedAt: new Date(NOW - 5) });
    expect(applePurchaseFromTransaction({ ...tx, type: "Non-Consumable" }, NOW)).toMatchObject({ kind: "product", status: "active" });
  });

  it("renewal info: billing retry is grace period while it lasts, then on hold", () => {
    const info = { originalTransactionId: "1", productId: "p", autoRenewStatus: 1, environment: "Sandbox" };
    expect(applePurchaseFromRenewalInfo(info, NOW)).toMatchObject({ status: "active", autoRenewing: true, environment: "sandbox" });
    expect(applePurchaseFromRenewalInfo({ ...info, isInBillingRetryPeriod: true, gracePeriodExpiresDate: NOW + HOUR }, NOW).status).toBe("in_grace_period");
    expect(applePurchaseFromRenewalInfo({ ...info, isInBillingRetryPeriod: true, gracePeriodExpiresDate: NOW - HOUR }, NOW).status).toBe("on_hold");
    expect(applePurchaseFromRenewalInfo({ ...info, autoRenewStatus: 0, expirationIntent: 1 }, NOW)).toMatchObject({ status: "expired", autoRenewing: false });
  });
});

describe("Google envelopes", () => {
  const ids = { packageName: "com.example.app", productId: "coins", purchaseToken: "t" };

  it("a product's purchaseState and purchaseType", () => {
    expect(googlePurchaseFromProduct({ purchaseState: 0, purchaseType: 0, acknowledgementState: 0 }, ids)).toMatchObject({ status: "active", environment: "sandbox", acknowledged: false });
    expect(googlePurchaseFromProduct({ purchaseState: 1 }, ids)).toMatchObject({ status: "revoked", environment: "production" });
    expect(googlePurchaseFromProduct({ purchaseState: 2 }, ids).status).toBe("pending");
  });

  it("a subscription's state; CANCELED stays active until expiry", () => {
    const sub = (state: string, expiry: number) => ({ subscriptionState: state, lineItems: [{ productId: "pro", expiryTime: new Date(expiry).toISOString() }] });
    const s = { packageName: "com.example.app", productId: undefined, purchaseToken: "t" };
    expect(googlePurchaseFromSubscription(sub("SUBSCRIPTION_STATE_CANCELED", NOW + HOUR), s, NOW).status).toBe("active");
    expect(googlePurchaseFromSubscription(sub("SUBSCRIPTION_STATE_CANCELED", NOW - HOUR), s, NOW).status).toBe("expired");
    expect(googlePurchaseFromSubscription(sub("SUBSCRIPTION_STATE_ON_HOLD", NOW - HOUR), s, NOW).status).toBe("on_hold");
    expect(googlePurchaseFromSubscription(sub("SUBSCRIPTION_STATE_PAUSED", NOW - HOUR), s, NOW).status).toBe("paused");
    expect(googlePurchaseFromSubscription({ ...sub("SUBSCRIPTION_STATE_ACTIVE", NOW + HOUR), testPurchase: {} }, s, NOW)).toMatchObject({ environment: "sandbox", productId: "pro" });
    expect(googlePurchaseFromSubscription(sub("SUBSCRIPTION_STATE_ACTIVE", NOW + HOUR), { ...s, productId: "other" }, NOW)).toMatchObject({ valid: false, errorCode: "product_mismatch" });
  });
});
