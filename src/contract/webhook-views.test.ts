import { describe, expect, it } from "vitest";
import type { Delivery, Subscription } from "../webhooks/module.js";
import { deliveryView, subscriptionView, type ViewFormat } from "./webhook-views.js";

/** A format whose every choice is visible in the output. */
const TAGGED: ViewFormat<string, "no-time", "no-text", "no-number", string, string> = {
  time: (d) => `time:${d.toISOString()}`,
  noTime: "no-time",
  noText: "no-text",
  noNumber: "no-number",
  status: (s) => `status:${s}`,
  errorKind: (k) => `kind:${k ?? "in-flight"}`,
};
const t = new Date("2026-01-02T03:04:05.678Z");
const proof = <S, N, P>(proofStreamId: S, seqNo: N, tlogProof: P) => ({ urlHost: "x.example", bodySha256: "b".repeat(64), responseSha256: "r".repeat(64), proofStreamId, seqNo, tlogProof });

describe("webhook views: one field list, each edge's format for what it leaves open", () => {
  it("a subscription: times through the format, an absent reason and expiry as the format's absent values", () => {
    const s: Subscription = {
      id: "sub_1",
      tenantId: "ten_1",
      name: "n",
      url: "https://x.example",
      eventTypes: ["batch.failed"],
      description: "",
      enabled: true,
      disabledReason: null,
      createdAt: t,
      updatedAt: t,
      secretRotatedAt: t,
      previousSecretExpiresAt: null,
      etag: "e1",
      maxDeliveriesPerSecond: 5,
      ordered: true,
      orderingBoundSeconds: 60,
      consecutiveFailedDeliveries: 2,
      failingSince: null,
    };
    expect(subscriptionView(s, TAGGED)).toEqual({
      id: "sub_1",
      name: "n",
      url: "https://x.example",
      eventTypes: ["batch.failed"],
      description: "",
      enabled: true,
      disabledReason: "no-text",
      createdAt: `time:${t.toISOString()}`,
      updatedAt: `time:${t.toISOString()}`,
      secretRotatedAt: `time:${t.toISOString()}`,
      previousSecretExpiresAt: "no-time",
      etag: "e1",
      maxDeliveriesPerSecond: 5,
      ordered: true,
      orderingBoundSeconds: 60,
      consecutiveFailedDeliveries: 2,
      failingSince: "no-time",
    });
    expect(subscriptionView({ ...s, disabledReason: "failing", previousSecretExpiresAt: t }, TAGGED)).toMatchObject({ disabledReason: "failing", previousSecretExpiresAt: `time:${t.toISOString()}` });
  });

  it("a delivery and its attempts: status and error kind through the format, an attempt in flight with no numbers", () => {
    const d: Delivery = {
      id: "dlv_1",
      tenantId: "ten_1",
      subscriptionId: "sub_1",
      eventType: "batch.failed",
      status: "pending",
      failureReason: null,
      url: "https://x.example",
      data: { a: 1 },
      test: false,
      attemptCount: 2,
      createdAt: t,
      lastAttemptAt: t,
      nextAttemptAt: null,
      orderingKey: "stream:str_1",
      ordering: "released_after_bound",
      heldSince: t,
      attempts: [
        { number: 1, startedAt: t, finishedAt: t, latencyMs: 12, statusCode: 503, errorKind: "http_status", responseExcerpt: "busy", ...proof("str_1", 7, "tlog") },
        { number: 2, startedAt: t, finishedAt: null, latencyMs: null, statusCode: null, errorKind: null, responseExcerpt: "", ...proof(null, null, null) },
      ],
    };
    const view = deliveryView(d, TAGGED);
    expect(view).toMatchObject({ status: "status:pending", failureReason: "no-text", lastAttemptAt: `time:${t.toISOString()}`, nextAttemptAt: "no-time", data: { a: 1 } });
    expect(view).toMatchObject({ orderingKey: "stream:str_1", ordering: "released_after_bound", heldSince: `time:${t.toISOString()}` });
    expect(deliveryView({ ...d, orderingKey: null, ordering: "", heldSince: null }, TAGGED)).toMatchObject({ orderingKey: "no-text", ordering: "no-text", heldSince: "no-time" });
    expect(view.attempts).toEqual([
      {
        number: 1,
        startedAt: `time:${t.toISOString()}`,
        finishedAt: `time:${t.toISOString()}`,
        latencyMs: 12,
        statusCode: 503,
        errorKind: "kind:http_status",
        responseExcerpt: "busy",
        ...proof("str_1", 7, "tlog"),
      },
      {
        number: 2,
        startedAt: `time:${t.toISOString()}`,
        finishedAt: "no-time",
        latencyMs: "no-number",
        statusCode: "no-number",
        errorKind: "kind:in-flight",
        responseExcerpt: "",
        ...proof("no-text", "no-number", "no-text"),
      },
    ]);
  });
});
