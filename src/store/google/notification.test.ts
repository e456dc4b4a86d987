import { describe, expect, it } from "vitest";
import { AppError } from "../../errors.js";
import { googleNotification } from "./notification.js";

const push = (notification: unknown, message: Record<string, unknown> = {}) =>
  JSON.stringify({
    message: { messageId: "m-1", publishTime: "2026-06-07T12:00:00Z", data: Buffer.from(JSON.stringify(notification)).toString("base64"), ...message },
    subscription: "projects/p/subscriptions/s",
  });

const fieldOf = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (err) {
    if (err instanceof AppError) return err.details.field;
    throw err;
  }
  return undefined;
};

describe("googleNotification", () => {
  it("names a subscription notification's type and keeps its order, product and token", () => {
    const n = googleNotification(
      "ten_1",
      push({ packageName: "com.example", eventTimeMillis: "1780833600000", subscriptionNotification: { notificationType: 4, purchaseToken: "tok", subscriptionId: "gold", orderId: "GPA.1" } }),
      "com.example",
    );
    expect(n).toMatchObject({
      tenantId: "ten_1",
      source: "google",
      externalId: "m-1",
      notificationType: "SUBSCRIPTION_PURCHASED",
      appId: "com.example",
      transactionId: "GPA.1",
      productId: "gold",
      purchaseToken: "tok",
      signedAt: new Date(1780833600000),
    });
    expect(n.webhookData).toMatchObject({ message_id: "m-1", notification_kind: "subscription", package_name: "com.example" });
  });

  it("an unknown type code keeps its number; one-time, voided and test notifications have their own kinds", () => {
    expect(googleNotification("t", push({ packageName: "p", subscriptionNotification: { notificationType: 99 } }), "p").notificationType).toBe("SUBSCRIPTION_99");
    expect(googleNotification("t", push({ packageName: "p", oneTimeProductNotification: { notificationType: 2, sku: "coins" } }), "p")).toMatchObject({
      notificationType: "ONE_TIME_PRODUCT_CANCELED",
      productId: "coins",
    });
    expect(googleNotification("t", push({ packageName: "p", voidedPurchaseNotification: { purchaseToken: "v" } }), "p")).toMatchObject({ notificationType: "VOIDED_PURCHASE", purchaseToken: "v" });
    expect(googleNotification("t", push({ packageName: "p", testNotification: {} }), "p").notificationType).toBe("TEST");
  });

  it("refuses what is not a push for the tenant's package, naming the field", () => {
    expect(fieldOf(() => googleNotification("t", "not json", "p"))).toBe("body");
    expect(fieldOf(() => googleNotification("t", JSON.stringify({ message: "x" }), "p"))).toBe("message");
    expect(fieldOf(() => googleNotification("t", push({ packageName: "p" }, { messageId: 7 }), "p"))).toBe("message.messageId");
    expect(fieldOf(() => googleNotification("t", push({ packageName: "p" }, { data: "bm90IGpzb24=" }), "p"))).toBe("message.data");
    expect(fieldOf(() => googleNotification("t", push({ packageName: "other", testNotification: {} }), "p"))).toBe("message.data.packageName");
    expect(fieldOf(() => googleNotification("t", push({ packageName: "p" }), "p"))).toBe("message.data");
  });
});
