import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { checkOrderingBound, DEFAULT_ORDERING_BOUND_SECONDS, deliveryOrdering, MAX_ORDERING_BOUND_SECONDS, orderingKey } from "./ordering.js";

describe("orderingKey", () => {
  it("keys Proofstream events by their stream", () => {
    expect(orderingKey("proofstream.checkpointed", { stream_id: "str_A", tree_size: 3 })).toBe("stream:str_A");
    expect(orderingKey("event.anchored", { stream_id: "str_B" })).toBe("stream:str_B");
    expect(orderingKey("proofstream.bundle_ready", { bundle_id: "b" })).toBeUndefined();
  });

  it("keys App Store notifications by the original transaction id, else the store stream", () => {
    expect(orderingKey("apple.notification", { stream_id: "str_S", transaction_info: { originalTransactionId: "1000" }, renewal_info: null })).toBe("apple:1000");
    expect(orderingKey("apple.notification", { stream_id: "str_S", transaction_info: null, renewal_info: { originalTransactionId: 2000 } })).toBe("apple:2000");
    expect(orderingKey("apple.notification", { stream_id: "str_S", transaction_info: null, renewal_info: null })).toBe("stream:str_S");
  });

  it("keys Google Play notifications by the purchase token, else the store stream", () => {
    expect(orderingKey("google.notification", { stream_id: "str_S", payload: { subscriptionNotification: { purchaseToken: "tok" } } })).toBe("google:tok");
    expect(orderingKey("google.notification", { stream_id: "str_S", payload: { voidedPurchaseNotification: { purchaseToken: "v" } } })).toBe("google:v");
    expect(orderingKey("google.notification", { stream_id: "str_S", payload: { testNotification: {} } })).toBe("stream:str_S");
    expect(orderingKey("google.notification", { payload: ["not", "an", "object"] })).toBeUndefined();
  });

  it("keys batches by batch id and subscription events by subscription", () => {
    expect(orderingKey("batch.failed", { batch_id: "bat_1" })).toBe("batch:bat_1");
    expect(orderingKey("subscription.disabled", { subscription_id: "sub_1" })).toBe("subscription:sub_1");
    expect(orderingKey("batch.confirmed", {})).toBeUndefined();
  });
});

describe("checkOrderingBound", () => {
  it("takes 0 as the default and refuses what is out of range, naming the field", () => {
    expect(checkOrderingBound(0)).toBe(DEFAULT_ORDERING_BOUND_SECONDS);
    expect(checkOrderingBound(1)).toBe(1);
    expect(checkOrderingBound(MAX_ORDERING_BOUND_SECONDS)).toBe(MAX_ORDERING_BOUND_SECONDS);
    for (const bad of [-1, 1.5, MAX_ORDERING_BOUND_SECONDS + 1, Number.NaN]) {
      expect(() => checkOrderingBound(bad)).toThrow(AppError);
      try {
        checkOrderingBound(bad);
      } catch (err) {
        expect((err as AppError).details.field).toBe("ordering_bound_seconds");
      }
    }
  });
});

describe("deliveryOrdering", () => {
  it("says whether a delivery is ordered and whether its bound released it", () => {
    expect(deliveryOrdering({ orderingKey: null, releasedAfterBoundAt: null, finalAttempt: null })).toBe("");
    expect(deliveryOrdering({ orderingKey: "stream:a", releasedAfterBoundAt: null, finalAttempt: null })).toBe("in_order");
    expect(deliveryOrdering({ orderingKey: "stream:a", releasedAfterBoundAt: new Date(), finalAttempt: null })).toBe("released_after_bound");
    expect(deliveryOrdering({ orderingKey: "stream:a", releasedAfterBoundAt: null, finalAttempt: 4 })).toBe("redelivery");
  });
});
