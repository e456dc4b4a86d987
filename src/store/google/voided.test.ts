import { describe, expect, it } from "vitest";
import { voidedPurchaseNotification } from "./voided.js";

const resource = { kind: "androidpublisher#voidedPurchase", purchaseToken: "tok-1", orderId: "GPA.1-2-3", voidedTimeMillis: "1780833600000", voidedReason: 7 };
const voided = (over: Partial<Parameters<typeof voidedPurchaseNotification>[2]> = {}) => ({
  purchaseToken: "tok-1",
  orderId: "GPA.1-2-3",
  purchaseTime: new Date(1780830000000),
  voidedTime: new Date(1780833600000),
  voidedSource: 2,
  voidedReason: 7,
  voidedQuantity: 0,
  resource,
  ...over,
});

describe("voidedPurchaseNotification", () => {
  it("is a google.voided notification keyed by the voided order and its time, signed at the voided time", () => {
    const n = voidedPurchaseNotification("ten_A", "com.example.app", voided());
    expect(n).toMatchObject({
      tenantId: "ten_A",
      source: "google",
      externalId: "voided:GPA.1-2-3:1780833600000",
      eventType: "google.voided",
      notificationType: "VOIDED_PURCHASE",
      appId: "com.example.app",
      transactionId: "GPA.1-2-3",
      purchaseToken: "tok-1",
      signedAt: new Date(1780833600000),
      payload: resource,
    });
    expect(n.webhookData).toEqual({
      package_name: "com.example.app",
      purchase_token: "tok-1",
      order_id: "GPA.1-2-3",
      purchase_time: "2026-06-07T11:00:00Z",
      voided_time: "2026-06-07T12:00:00Z",
      voided_source: 2,
      voided_reason: 7,
      voided_quantity: 0,
      payload: resource,
    });
  });

  it("the same voided purchase listed twice has one external id; another void of the order (a partial refund later) another", () => {
    const a = voidedPurchaseNotification("ten_A", "com.example.app", voided());
    expect(voidedPurchaseNotification("ten_A", "com.example.app", voided()).externalId).toBe(a.externalId);
    expect(voidedPurchaseNotification("ten_A", "com.example.app", voided({ voidedTime: new Date(1780833700000) })).externalId).not.toBe(a.externalId);
  });

  it("without an order id it is keyed by the purchase token", () => {
    expect(voidedPurchaseNotification("ten_A", "p.q", voided({ orderId: "" })).externalId).toBe("voided:tok-1:1780833600000");
  });
});
