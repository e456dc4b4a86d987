import { create, type DescMessage, type Message } from "@bufbuild/protobuf";
import type { Context, Hono } from "hono";
import {
  CreateSubscriptionRequestSchema,
  GetDeliveryRequestSchema,
  GetSubscriptionRequestSchema,
  SendTestEventRequestSchema,
  UpdateSubscriptionRequestSchema,
} from "../../gen/ts/attesto/v1/webhook_pb.js";
import { renderField, type FieldNames } from "../contract/fields.js";
import { validateMessage } from "../contract/validation.js";
import { deliveryView, subscriptionView, type ViewFormat } from "../contract/webhook-views.js";
import { invalidArgument, notFound, unknownField } from "../errors.js";
import { parseJsonObject } from "../json.js";
import type { Authenticator } from "../tenancy/module.js";
import { isWebhookEventType } from "../webhooks/event-types.js";
import type { Delivery, Subscription, Webhooks } from "../webhooks/module.js";
import type { AttemptErrorKind, DeliveryStatus } from "../webhooks/schema.js";
import { restPage } from "./pagination.js";

/** What the subscription routes need: the Webhooks facade's subscription and delivery calls and the tenant's key. */
export interface WebhookRouteDeps {
  authenticator: Pick<Authenticator, "requireTenant">;
  webhooks: {
    subscriptions: Pick<Webhooks["subscriptions"], "create" | "list" | "get" | "update" | "delete" | "rotateSecret">;
    deliveries: Pick<Webhooks["deliveries"], "sendTestEvent" | "list" | "get" | "redeliver" | "recover">;
    eventTypes: Webhooks["eventTypes"];
  };
}

/** Contract field paths as this API names them. */
const REST_FIELDS: FieldNames = [
  ["event_types", "eventTypes"],
  ["subscription_id", "id"],
  ["delivery_id", "deliveryId"],
  ["event_type", "eventType"],
  ["overlap", "overlapSeconds"],
  ["max_deliveries_per_second", "maxDeliveriesPerSecond"],
  ["ordering_bound_seconds", "orderingBoundSeconds"],
];
/** REST body keys whose contract field names differ (PATCH's update_mask paths). */
const MASK_PATHS: Record<string, string> = { eventTypes: "event_types", maxDeliveriesPerSecond: "max_deliveries_per_second", orderingBoundSeconds: "ordering_bound_seconds" };
/** An integer field of a body as the contract's uint32 takes it (the contract's rules then bound it, naming the field). */
const uint32Of = (v: string | string[] | boolean | number | undefined) => Math.min((v as number | undefined) ?? 0, 0xffffffff);

/** Runs the contract's field rules, naming fields the way this API does. */
function validate<D extends DescMessage>(schema: D, message: Message): void {
  try {
    validateMessage(schema, message);
  } catch (err) {
    throw renderField(err, REST_FIELDS);
  }
}

/** Runs a domain call, naming the fields of its errors the way this API does. */
const rest = <T>(call: Promise<T>): Promise<T> => call.catch((err: unknown) => Promise.reject(renderField(err, REST_FIELDS)));

export async function jsonObject(c: Context): Promise<Record<string, unknown>> {
  return parseJsonObject(await c.req.text());
}

/** Reads the allowed fields of a JSON body with their JSON types; anything else is an error naming the field. */
function fieldsOf(body: Record<string, unknown>, spec: Record<string, "string" | "string[]" | "boolean" | "integer">) {
  const out: Record<string, string | string[] | boolean | number | undefined> = {};
  for (const [key, value] of Object.entries(body)) {
    const kind = spec[key];
    if (!kind) throw unknownField(key);
    if (value === null || value === undefined) continue;
    const ok =
      kind === "string[]"
        ? Array.isArray(value) && value.every((v) => typeof v === "string")
        : kind === "integer"
          ? Number.isSafeInteger(value) && (value as number) >= 0
          : typeof value === (kind === "boolean" ? "boolean" : "string");
    if (!ok) throw invalidArgument(key, kind === "string[]" ? "must be an array of strings" : kind === "integer" ? "must be a whole number, not negative" : `must be a ${kind}`);
    out[key] = value as string | string[] | boolean | number;
  }
  return out;
}

/** An RFC 3339 time of a REST body, as a Date; an error naming the field otherwise. */
function timeOf(field: string, value: unknown): Date | undefined {
  if (value === undefined) return undefined;
  const at = typeof value === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) ? new Date(value) : undefined;
  if (!at || Number.isNaN(at.getTime()) || at.getUTCFullYear() < 1 || at.getUTCFullYear() > 9999) throw invalidArgument(field, "must be an RFC 3339 time");
  return at;
}

/** REST writes times as ISO strings, absent values as null, enums by their names. */
const REST_FORMAT: ViewFormat<string, null, null, null, DeliveryStatus, AttemptErrorKind | null> = {
  time: (d) => d.toISOString(),
  noTime: null,
  noText: null,
  noNumber: null,
  status: (s) => s,
  errorKind: (k) => k,
};

/** A subscription as the REST routes show it: the view without the etag, which REST does not take. */
const subscriptionJson = (s: Subscription) => {
  const { etag: _, ...json } = subscriptionView(s, REST_FORMAT);
  return json;
};

/** A delivery as the REST routes show it: attempts only on the single-delivery read. */
const deliveryJson = (d: Delivery, withAttempts: boolean) => {
  const { attempts, ...json } = deliveryView(d, REST_FORMAT);
  return withAttempts ? { ...json, attempts } : json;
};

const DELIVERY_STATUSES: readonly DeliveryStatus[] = ["pending", "succeeded", "failed"];

/**
 * The REST subscription API (`/v1/webhooks`, JSON, Bearer tenant key), with
 * what WebhookService does besides:
 *
 * - POST/GET /v1/webhooks, GET/PATCH/DELETE /v1/webhooks/:id
 * - POST /v1/webhooks/:id/rotate-secret, POST /v1/webhooks/:id/test
 * - GET /v1/webhooks/:id/deliveries, GET /v1/webhooks/:id/deliveries/:deliveryId
 *   (with its attempts and their proofs), POST /v1/webhooks/:id/deliveries/:deliveryId/redeliver
 * - POST /v1/webhooks/:id/recover (`{"since", "until"?}`: RecoverDeliveries)
 * - GET /v1/event-types (ListEventTypes: the event catalogue)
 *
 * Lists page with `?page_size=` (0 or absent: 50; at most 500) and
 * `?page_token=` (the previous page's `nextPageToken`); an unknown query
 * parameter is an error, never ignored. The same rules and domain code as
 * WebhookService; errors are the JSON errors of the plain HTTP routes,
 * naming the request's fields.
 */
export function mountWebhookRoutes(app: Hono, deps: WebhookRouteDeps): void {
  const { authenticator } = deps;
  const request: RequestReaders = {
    tenant: async (c) => (await authenticator.requireTenant(c.req.header("authorization"))).tenantId,
    idOf: (c) => {
      const id = c.req.param("id") ?? "";
      validate(GetSubscriptionRequestSchema, create(GetSubscriptionRequestSchema, { subscriptionId: id }));
      return id;
    },
  };
  mountSubscriptionRoutes(app, deps.webhooks.subscriptions, request);
  mountDeliveryRoutes(app, deps.webhooks, request);
  app.get("/v1/event-types", async (c) => {
    await request.tenant(c);
    return c.json(deps.webhooks.eventTypes(restPage(c)));
  });
}

/** What every webhook route reads first: the caller's tenant, and the subscription id of the path, checked. */
interface RequestReaders {
  tenant: (c: Context) => Promise<string>;
  idOf: (c: Context) => string;
}

function mountSubscriptionRoutes(app: Hono, subscriptions: WebhookRouteDeps["webhooks"]["subscriptions"], { tenant, idOf }: RequestReaders): void {
  app.post("/v1/webhooks", async (c) => {
    const tenantId = await tenant(c);
    const f = fieldsOf(await jsonObject(c), {
      name: "string",
      url: "string",
      eventTypes: "string[]",
      description: "string",
      maxDeliveriesPerSecond: "integer",
      ordered: "boolean",
      orderingBoundSeconds: "integer",
    });
    const req = create(CreateSubscriptionRequestSchema, {
      name: f.name as string | undefined,
      url: f.url as string | undefined,
      eventTypes: f.eventTypes as string[] | undefined,
      description: f.description as string | undefined,
      maxDeliveriesPerSecond: uint32Of(f.maxDeliveriesPerSecond),
      ordered: (f.ordered as boolean | undefined) ?? false,
      orderingBoundSeconds: uint32Of(f.orderingBoundSeconds),
    });
    validate(CreateSubscriptionRequestSchema, req);
    const { name, url, eventTypes, description, maxDeliveriesPerSecond, ordered, orderingBoundSeconds } = req;
    const { subscription, secret } = await rest(subscriptions.create(tenantId, { name, url, eventTypes, description, maxDeliveriesPerSecond, ordered, orderingBoundSeconds }));
    return c.json({ ...subscriptionJson(subscription), secret }, 201);
  });

  app.get("/v1/webhooks", async (c) => {
    const tenantId = await tenant(c);
    const page = await subscriptions.list(tenantId, restPage(c));
    return c.json({ webhooks: page.subscriptions.map(subscriptionJson), nextPageToken: page.nextPageToken });
  });

  app.get("/v1/webhooks/:id", async (c) => {
    const tenantId = await tenant(c);
    return c.json(subscriptionJson(await subscriptions.get(tenantId, idOf(c))));
  });

  app.patch("/v1/webhooks/:id", async (c) => {
    const tenantId = await tenant(c);
    const id = idOf(c);
    const f = fieldsOf(await jsonObject(c), {
      name: "string",
      url: "string",
      eventTypes: "string[]",
      description: "string",
      enabled: "boolean",
      maxDeliveriesPerSecond: "integer",
      ordered: "boolean",
      orderingBoundSeconds: "integer",
    });
    // PATCH changes the fields the body holds: the REST form of update_mask.
    const paths = Object.keys(f).map((k) => MASK_PATHS[k] ?? k);
    const req = create(UpdateSubscriptionRequestSchema, {
      subscriptionId: id,
      name: (f.name as string | undefined) ?? "",
      url: (f.url as string | undefined) ?? "",
      eventTypes: (f.eventTypes as string[] | undefined) ?? [],
      description: (f.description as string | undefined) ?? "",
      enabled: (f.enabled as boolean | undefined) ?? false,
      maxDeliveriesPerSecond: uint32Of(f.maxDeliveriesPerSecond),
      ordered: (f.ordered as boolean | undefined) ?? false,
      orderingBoundSeconds: uint32Of(f.orderingBoundSeconds),
      updateMask: { paths },
    });
    validate(UpdateSubscriptionRequestSchema, req);
    const subscription = await rest(
      subscriptions.update(tenantId, id, {
        name: f.name as string | undefined,
        url: f.url as string | undefined,
        eventTypes: f.eventTypes as string[] | undefined,
        description: f.description as string | undefined,
        enabled: f.enabled as boolean | undefined,
        maxDeliveriesPerSecond: f.maxDeliveriesPerSecond as number | undefined,
        ordered: f.ordered as boolean | undefined,
        orderingBoundSeconds: f.orderingBoundSeconds as number | undefined,
      }),
    );
    return c.json(subscriptionJson(subscription));
  });

  app.delete("/v1/webhooks/:id", async (c) => {
    const tenantId = await tenant(c);
    await subscriptions.delete(tenantId, idOf(c));
    return c.body(null, 204);
  });

  app.post("/v1/webhooks/:id/rotate-secret", async (c) => {
    const tenantId = await tenant(c);
    const id = idOf(c);
    // The body is optional: an empty one keeps the configured overlap.
    const body = (await c.req.raw.clone().text()).trim() ? await jsonObject(c) : {};
    const overlap = body.overlapSeconds;
    if (overlap !== undefined && overlap !== null && !(typeof overlap === "number" && Number.isInteger(overlap))) throw invalidArgument("overlapSeconds", "must be an integer");
    for (const key of Object.keys(body)) if (key !== "overlapSeconds") throw unknownField(key);
    const { subscription, secret } = await rest(subscriptions.rotateSecret(tenantId, id, typeof overlap === "number" ? overlap * 1000 : undefined));
    return c.json({ ...subscriptionJson(subscription), secret });
  });
}

function mountDeliveryRoutes(app: Hono, { subscriptions, deliveries }: WebhookRouteDeps["webhooks"], { tenant, idOf }: RequestReaders): void {
  app.post("/v1/webhooks/:id/test", async (c) => {
    const tenantId = await tenant(c);
    const id = idOf(c);
    const f = fieldsOf(await jsonObject(c), { eventType: "string" });
    const req = create(SendTestEventRequestSchema, { subscriptionId: id, eventType: (f.eventType as string | undefined) ?? "" });
    validate(SendTestEventRequestSchema, req);
    if (!isWebhookEventType(req.eventType)) throw invalidArgument("eventType", "unknown event type");
    return c.json(deliveryJson(await deliveries.sendTestEvent(tenantId, id, req.eventType), true), 201);
  });

  app.get("/v1/webhooks/:id/deliveries", async (c) => {
    const tenantId = await tenant(c);
    const id = idOf(c);
    const { status, event_type: eventType, ...page } = restPage(c, ["status", "event_type"]);
    if (status !== undefined && !DELIVERY_STATUSES.includes(status as DeliveryStatus)) throw invalidArgument("status", `must be one of ${DELIVERY_STATUSES.join(", ")}`);
    if (eventType !== undefined && !isWebhookEventType(eventType)) throw invalidArgument("event_type", "unknown event type");
    // The subscription must be the tenant's: another tenant's id reads as not found, not as an empty list.
    await subscriptions.get(tenantId, id);
    const result = await deliveries.list(tenantId, { subscriptionId: id, status: status as DeliveryStatus | undefined, eventType, ...page });
    return c.json({ deliveries: result.deliveries.map((d) => deliveryJson(d, false)), nextPageToken: result.nextPageToken });
  });

  /** The delivery when it belongs to the tenant and to this subscription; otherwise not found. */
  const deliveryOf = async (c: Context) => {
    const tenantId = await tenant(c);
    const id = idOf(c);
    const deliveryId = c.req.param("deliveryId") ?? "";
    validate(GetDeliveryRequestSchema, create(GetDeliveryRequestSchema, { deliveryId }));
    const delivery = await deliveries.get(tenantId, deliveryId);
    if (delivery.subscriptionId !== id) throw notFound("delivery");
    return { tenantId, delivery };
  };

  app.get("/v1/webhooks/:id/deliveries/:deliveryId", async (c) => c.json(deliveryJson((await deliveryOf(c)).delivery, true)));

  app.post("/v1/webhooks/:id/recover", async (c) => {
    const tenantId = await tenant(c);
    const id = idOf(c);
    const body = await jsonObject(c);
    for (const key of Object.keys(body)) if (key !== "since" && key !== "until") throw unknownField(key);
    const since = timeOf("since", body.since);
    const until = timeOf("until", body.until);
    if (!since) throw invalidArgument("since", "is required");
    const { deliveryIds, more } = await rest(deliveries.recover(tenantId, id, since, until));
    return c.json({ recoveredCount: deliveryIds.length, deliveryIds, more });
  });

  app.post("/v1/webhooks/:id/deliveries/:deliveryId/redeliver", async (c) => {
    const { tenantId, delivery } = await deliveryOf(c);
    return c.json(deliveryJson(await deliveries.redeliver(tenantId, delivery.id), true), 202);
  });
}
