import { describe, expect, it } from "vitest";
import { healthChanges } from "./health.js";

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

describe("healthChanges", () => {
  it("counts failed deliveries and the first failed attempt", () => {
    const [c] = healthChanges([
      { subscriptionId: "s", ok: false, deliveryFailed: false, at: at(1) },
      { subscriptionId: "s", ok: false, deliveryFailed: true, at: at(2) },
      { subscriptionId: "s", ok: false, deliveryFailed: true, at: at(3) },
    ]);
    expect(c).toEqual({ subscriptionId: "s", reset: false, failedDeliveries: 2, failingSince: at(1) });
  });

  it("a success resets, and failures after it count again, in the order the attempts ended", () => {
    const [c] = healthChanges([
      { subscriptionId: "s", ok: false, deliveryFailed: true, at: at(5) },
      { subscriptionId: "s", ok: true, deliveryFailed: false, at: at(3) },
      { subscriptionId: "s", ok: false, deliveryFailed: true, at: at(1) },
    ]);
    expect(c).toEqual({ subscriptionId: "s", reset: true, failedDeliveries: 1, failingSince: at(5) });
  });

  it("keeps subscriptions apart", () => {
    const changes = healthChanges([
      { subscriptionId: "a", ok: true, deliveryFailed: false, at: at(1) },
      { subscriptionId: "b", ok: false, deliveryFailed: false, at: at(2) },
    ]);
    expect(changes).toEqual([
      { subscriptionId: "a", reset: true, failedDeliveries: 0, failingSince: null },
      { subscriptionId: "b", reset: false, failedDeliveries: 0, failingSince: at(2) },
    ]);
  });
});
