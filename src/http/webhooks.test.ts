import { describe, expect, it } from "vitest";
import { AppError, invalidArgument, notFound } from "../errors.js";
import { createLogger } from "../logger.js";
import type { TenantPrincipal } from "../tenancy/types.js";
import type { Delivery } from "../webhooks/deliveries.js";
import type { Subscription } from "../webhooks/subscriptions.js";
import { createHttpApp } from "./app.js";
import { Metrics } from "./metrics.js";
import { mountWebhookRoutes, type WebhookRouteDeps } from "./webhooks.js";

const SUB = "sub_01ARZ3NDEKTSV4RRFFQ69G5FAV";
const OTHER_SUB = "sub_01ARZ3NDEKTSV4RRFFQ69G5FAW";
const DLV = "dlv_01ARZ3NDEKTSV4RRFFQ69G5FAV";
const T0 = new Date("2026-01-01T00:00:00Z");

/** Subscriptions and deliveries of tenant ten_1 in memory, recording what the routes asked for. */
function memoryWebhooks() {
  const asked: Array<{ call: string; args: unknown[] }> = [];
  const subs = new Map<string, Subscription>();
  const subscription = (id: string, over: Partial<Subscription> = {}): Subscription => ({
    id,
    tenantId: "ten_1",
    name: "hook",
    url: "https://example.com/hook",
    eventTypes: ["proofstream.checkpointed"],
    description: "",
    enabled: true,
    disabledReason: null,
    createdAt: T0,
    updatedAt: T0,
    secretRotatedAt: T0,
    previousSecretExpiresAt: null,
    etag: "e1",
    maxDeliveriesPerSecond: 0,
    ordered: false,
    orderingBoundSeconds: 600,
    consecutiveFailedDeliveries: 0,
    failingSince: null,
    ...over,
  });
  const owned = (tenantId: string, id: string) => {
    const s = subs.get(id);
    if (!s || s.tenantId !== tenantId) throw notFound("subscription");
    return s;
  };
  const delivery: Delivery = {
    id: DLV,
    tenantId: "ten_1",
    subscriptionId: SUB,
    eventType: "proofstream.checkpointed",
    status: "failed",
    failureReason: "gone",
    url: "https://example.com/hook",
    data: { streamId: "ps_1" },
    test: false,
    attemptCount: 1,
    createdAt: T0,
    lastAttemptAt: T0,
    nextAttemptAt: null,
    orderingKey: null,
    ordering: "",
    heldSince: null,
    attempts: [
      {
        number: 1,
        startedAt: T0,
        finishedAt: T0,
        latencyMs: 12,
        statusCode: 410,
        errorKind: null,
        responseExcerpt: "gone",
        urlHost: "example.com",
        bodySha256: "b".repeat(64),
        responseSha256: "r".repeat(64),
        proofStreamId: "str_1",
        seqNo: 3,
        tlogProof: null,
      },
    ],
  } as Delivery;
  const webhooks: WebhookRouteDeps["webhooks"] = {
    subscriptions: {
      create: async (tenantId, input) => {
        asked.push({ call: "create", args: [tenantId, input] });
        const s = subscription(SUB, { tenantId, name: input.name, url: input.url, eventTypes: input.eventTypes as Subscription["eventTypes"], description: input.description ?? "" });
        subs.set(s.id, s);
        return { subscription: s, secret: "whsec_one_time" };
      },
      list: async (tenantId, page) => {
        asked.push({ call: "list", args: [tenantId, page] });
        return { subscriptions: [...subs.values()].filter((s) => s.tenantId === tenantId), nextPageToken: "" };
      },
      get: async (tenantId, id) => owned(tenantId, id),
      update: async (tenantId, id, patch) => {
        asked.push({ call: "update", args: [tenantId, id, patch] });
        const s = { ...owned(tenantId, id), ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) } as Subscription;
        subs.set(id, s);
        return s;
      },
      delete: async (tenantId, id) => {
        owned(tenantId, id);
        subs.delete(id);
      },
      rotateSecret: async (tenantId, id, overlapMs) => {
        asked.push({ call: "rotateSecret", args: [tenantId, id, overlapMs] });
        return { subscription: owned(tenantId, id), secret: "whsec_rotated" };
      },
    },
    deliveries: {
      sendTestEvent: async (tenantId, id, eventType) => {
        owned(tenantId, id);
        return { ...delivery, eventType, test: true, status: "pending", attempts: [] };
      },
      list: async (tenantId, filter) => {
        asked.push({ call: "deliveries.list", args: [tenantId, filter] });
        return { deliveries: [delivery], nextPageToken: "next" };
      },
      get: async (tenantId, id) => {
        if (tenantId !== delivery.tenantId || id !== delivery.id) throw notFound("delivery");
        return delivery;
      },
      redeliver: async () => ({ ...delivery, status: "pending" }),
      recover: async (tenantId, id, since, until) => {
        owned(tenantId, id);
        asked.push({ call: "recover", args: [tenantId, id, since, until] });
        return { deliveryIds: [DLV], more: false };
      },
    },
    eventTypes: () => ({ eventTypes: [{ name: "batch.failed", description: "d", dataSchema: { type: "object" }, example: {}, sinceVersion: "0.1.0" }], nextPageToken: "" }),
  };
  subs.set(OTHER_SUB, subscription(OTHER_SUB, { tenantId: "ten_2" }));
  return { webhooks, asked };
}

const authenticator = {
  requireTenant: async (header: string | null | undefined): Promise<TenantPrincipal> => {
    if (header !== "Bearer atk_good") throw new AppError("unauthenticated", "invalid API key");
    return { kind: "tenant", tenantId: "ten_1", apiKeyId: "key_1" };
  },
};

function setup() {
  const memory = memoryWebhooks();
  const app = createHttpApp({ logger: createLogger("silent"), metrics: new Metrics(), bodyLimitBytes: 4096, readiness: {} });
  mountWebhookRoutes(app, { webhooks: memory.webhooks, authenticator });
  return { app, asked: memory.asked };
}

const KEY = { authorization: "Bearer atk_good", "content-type": "application/json" };
const send = (method: string, body?: unknown) => ({ method, headers: KEY, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; field?: string } }).error;
const created = { name: "hook", url: "https://example.com/hook", eventTypes: ["proofstream.checkpointed"] };

describe("webhook subscription REST routes", () => {
  it("creates a subscription for the key's tenant and shows its secret once, in the REST shape", async () => {
    const { app, asked } = setup();
    const res = await app.request("/v1/webhooks", send("POST", created));
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ id: SUB, secret: "whsec_one_time", eventTypes: ["proofstream.checkpointed"], createdAt: "2026-01-01T00:00:00.000Z", previousSecretExpiresAt: null });
    expect(body).not.toHaveProperty("tenantId");
    expect(asked[0]).toEqual({ call: "create", args: ["ten_1", { ...created, description: "", maxDeliveriesPerSecond: 0, ordered: false, orderingBoundSeconds: 0 }] });
    const listed = (await (await app.request("/v1/webhooks?page_size=10", send("GET"))).json()) as { webhooks: Array<{ id: string }> };
    expect(listed.webhooks.map((w) => w.id)).toEqual([SUB]);
    expect(asked[1]).toEqual({ call: "list", args: ["ten_1", { pageSize: 10, pageToken: "" }] });
  });

  it("refuses a create body that breaks a rule, naming the field in the REST way, and creates nothing", async () => {
    const { app, asked } = setup();
    const cases: Array<[unknown, string]> = [
      ["[]", "body"],
      [{ ...created, color: "red" }, "color"],
      [{ ...created, eventTypes: "proofstream.checkpointed" }, "eventTypes"],
      [{ ...created, name: 7 }, "name"],
      [{ ...created, eventTypes: [] }, "eventTypes"],
      [{ ...created, name: "" }, "name"],
    ];
    for (const [body, field] of cases) {
      const res = await app.request("/v1/webhooks", send("POST", body));
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await errorOf(res)).field, JSON.stringify(body)).toBe(field);
    }
    expect((await app.request("/v1/webhooks", { method: "POST", body: JSON.stringify(created) })).status).toBe(401);
    expect(asked).toEqual([]);
  });

  it("reads only the tenant's own subscriptions and refuses an id that is not one", async () => {
    const { app } = setup();
    await app.request("/v1/webhooks", send("POST", created));
    expect((await app.request(`/v1/webhooks/${SUB}`, send("GET"))).status).toBe(200);
    expect((await app.request(`/v1/webhooks/${OTHER_SUB}`, send("GET"))).status).toBe(404);
    const bad = await app.request("/v1/webhooks/not-an-id", send("GET"));
    expect([bad.status, (await errorOf(bad)).field]).toEqual([400, "id"]);
  });

  it("PATCH changes only the fields the body holds; DELETE answers 204", async () => {
    const { app, asked } = setup();
    await app.request("/v1/webhooks", send("POST", created));
    const res = await app.request(`/v1/webhooks/${SUB}`, send("PATCH", { enabled: false }));
    expect(((await res.json()) as { enabled: boolean }).enabled).toBe(false);
    expect(asked.find((a) => a.call === "update")?.args).toEqual(["ten_1", SUB, { name: undefined, url: undefined, eventTypes: undefined, description: undefined, enabled: false }]);
    expect((await app.request(`/v1/webhooks/${SUB}`, send("PATCH", { enabled: "no" }))).status).toBe(400);
    expect((await app.request(`/v1/webhooks/${SUB}`, send("DELETE"))).status).toBe(204);
    expect((await app.request(`/v1/webhooks/${SUB}`, send("GET"))).status).toBe(404);
  });

  it("rotates the secret with an optional overlap in whole seconds", async () => {
    const { app, asked } = setup();
    await app.request("/v1/webhooks", send("POST", created));
    const keep = await app.request(`/v1/webhooks/${SUB}/rotate-secret`, { method: "POST", headers: { authorization: "Bearer atk_good" } });
    expect(((await keep.json()) as { secret: string }).secret).toBe("whsec_rotated");
    await app.request(`/v1/webhooks/${SUB}/rotate-secret`, send("POST", { overlapSeconds: 60 }));
    expect(asked.filter((a) => a.call === "rotateSecret").map((a) => a.args[2])).toEqual([undefined, 60_000]);
    for (const [body, field] of [
      [{ overlapSeconds: 1.5 }, "overlapSeconds"],
      [{ overlapSeconds: "60" }, "overlapSeconds"],
      [{ other: 1 }, "other"],
    ] as const) {
      const res = await app.request(`/v1/webhooks/${SUB}/rotate-secret`, send("POST", body));
      expect([res.status, (await errorOf(res)).field]).toEqual([400, field]);
    }
  });

  it("sends a test event of a known type only", async () => {
    const { app } = setup();
    await app.request("/v1/webhooks", send("POST", created));
    const res = await app.request(`/v1/webhooks/${SUB}/test`, send("POST", { eventType: "batch.confirmed" }));
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ eventType: "batch.confirmed", test: true, status: "pending", attempts: [] });
    const unknown = await app.request(`/v1/webhooks/${SUB}/test`, send("POST", { eventType: "no.such_type" }));
    expect([unknown.status, (await errorOf(unknown)).field]).toEqual([400, "eventType"]);
  });

  it("lists a subscription's deliveries by status and event type, without attempts; one delivery shows them", async () => {
    const { app, asked } = setup();
    await app.request("/v1/webhooks", send("POST", created));
    const list = await app.request(`/v1/webhooks/${SUB}/deliveries?status=failed&event_type=proofstream.checkpointed`, send("GET"));
    const body = (await list.json()) as { deliveries: Array<Record<string, unknown>>; nextPageToken: string };
    expect(body.nextPageToken).toBe("next");
    expect(body.deliveries[0]).not.toHaveProperty("attempts");
    expect(asked.find((a) => a.call === "deliveries.list")?.args).toEqual(["ten_1", { subscriptionId: SUB, status: "failed", eventType: "proofstream.checkpointed", pageSize: 0, pageToken: "" }]);
    for (const [query, field] of [
      ["status=lost", "status"],
      ["event_type=nope", "event_type"],
      ["colour=1", "colour"],
    ]) {
      const res = await app.request(`/v1/webhooks/${SUB}/deliveries?${query}`, send("GET"));
      expect([res.status, (await errorOf(res)).field]).toEqual([400, field]);
    }
    expect((await app.request(`/v1/webhooks/${OTHER_SUB}/deliveries`, send("GET"))).status).toBe(404);
    const one = (await (await app.request(`/v1/webhooks/${SUB}/deliveries/${DLV}`, send("GET"))).json()) as { attempts: Array<Record<string, unknown>> };
    expect(one.attempts).toEqual([
      {
        number: 1,
        startedAt: "2026-01-01T00:00:00.000Z",
        finishedAt: "2026-01-01T00:00:00.000Z",
        latencyMs: 12,
        statusCode: 410,
        errorKind: null,
        responseExcerpt: "gone",
        urlHost: "example.com",
        bodySha256: "b".repeat(64),
        responseSha256: "r".repeat(64),
        proofStreamId: "str_1",
        seqNo: 3,
        tlogProof: null,
      },
    ]);
  });

  it("finds a delivery only under its own subscription, and redelivers it with 202", async () => {
    const { app } = setup();
    await app.request("/v1/webhooks", send("POST", created));
    expect((await app.request(`/v1/webhooks/${OTHER_SUB}/deliveries/${DLV}`, send("GET"))).status).toBe(404);
    const bad = await app.request(`/v1/webhooks/${SUB}/deliveries/dlv_x`, send("GET"));
    expect([bad.status, (await errorOf(bad)).field]).toEqual([400, "deliveryId"]);
    const again = await app.request(`/v1/webhooks/${SUB}/deliveries/${DLV}/redeliver`, send("POST"));
    expect([again.status, ((await again.json()) as { status: string }).status]).toEqual([202, "pending"]);
  });
});

describe("recover and the event catalogue", () => {
  it("recovers a window of the tenant's subscription, refusing a bad time or field by name", async () => {
    const { app, asked } = setup();
    await app.request("/v1/webhooks", send("POST", created));
    const res = await app.request(`/v1/webhooks/${SUB}/recover`, send("POST", { since: "2026-01-01T00:00:00Z" }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ recoveredCount: 1, deliveryIds: [DLV], more: false });
    expect(asked.find((a) => a.call === "recover")?.args).toEqual(["ten_1", SUB, new Date("2026-01-01T00:00:00Z"), undefined]);
    for (const [body, field] of [
      [{}, "since"],
      [{ since: "yesterday" }, "since"],
      [{ since: "2026-01-01T00:00:00Z", until: 5 }, "until"],
      [{ since: "2026-01-01T00:00:00Z", limit: 5 }, "limit"],
    ] as const) {
      const bad = await app.request(`/v1/webhooks/${SUB}/recover`, send("POST", body));
      expect([bad.status, (await errorOf(bad)).field], JSON.stringify(body)).toEqual([400, field]);
    }
    expect((await app.request(`/v1/webhooks/${OTHER_SUB}/recover`, send("POST", { since: "2026-01-01T00:00:00Z" }))).status).toBe(404);
    expect(asked.filter((a) => a.call === "recover")).toHaveLength(1);
  });

  it("takes a rate limit on create and PATCH as a whole number", async () => {
    const { app, asked } = setup();
    expect((await app.request("/v1/webhooks", send("POST", { ...created, maxDeliveriesPerSecond: 5 }))).status).toBe(201);
    expect(asked[0]!.args[1]).toMatchObject({ maxDeliveriesPerSecond: 5 });
    for (const value of [-1, 1.5, "5", 10_001]) {
      const bad = await app.request("/v1/webhooks", send("POST", { ...created, maxDeliveriesPerSecond: value }));
      expect([bad.status, (await errorOf(bad)).field], String(value)).toEqual([400, "maxDeliveriesPerSecond"]);
    }
    const patched = await app.request(`/v1/webhooks/${SUB}`, send("PATCH", { maxDeliveriesPerSecond: 7 }));
    expect(((await patched.json()) as { maxDeliveriesPerSecond: number }).maxDeliveriesPerSecond).toBe(7);
  });

  it("lists the event types for a tenant key only", async () => {
    const { app } = setup();
    const res = await app.request("/v1/event-types", send("GET"));
    expect(((await res.json()) as { eventTypes: Array<{ name: string }> }).eventTypes.map((e) => e.name)).toEqual(["batch.failed"]);
    expect((await app.request("/v1/event-types")).status).toBe(401);
  });
});

describe("webhook routes: domain errors", () => {
  it("renders the contract field path of a domain's error the REST way (event_types → eventTypes)", async () => {
    const memory = memoryWebhooks();
    memory.webhooks.subscriptions.create = async () => {
      throw invalidArgument("event_types", "too many");
    };
    const app = createHttpApp({ logger: createLogger("silent"), metrics: new Metrics(), bodyLimitBytes: 4096, readiness: {} });
    mountWebhookRoutes(app, { webhooks: memory.webhooks, authenticator });
    const res = await app.request("/v1/webhooks", send("POST", created));
    expect([res.status, (await errorOf(res)).field]).toEqual([400, "eventTypes"]);
  });
});
