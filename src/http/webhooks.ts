import { create, type DescMessage, type Message } from "@bufbuild/protobuf";
import type { Context, Hono } from "hono";
import {
  CreateSubscriptionRequestSchema,
  GetSubscriptionRequestSchema,
  ListSubscriptionsRequestSchema,
  UpdateSubscriptionRequestSchema,
} from "../../gen/ts/attesto/v1/webhook_pb.js";
import { renderField, type FieldNames } from "../contract/fields.js";
import { validateMessage } from "../contract/validation.js";
import { invalidArgument } from "../errors.js";
import type { Authenticator } from "../tenancy/authenticator.js";
import type { Webhooks } from "../webhooks/module.js";
import type { Subscription } from "../webhooks/subscriptions.js";

export interface WebhookRouteDeps {
  authenticator: Authenticator;
  webhooks: Webhooks;
}

/** Contract field paths as this API names them. */
const REST_FIELDS: FieldNames = [
  ["event_types", "eventTypes"],
  ["subscription_id", "id"],
  ["page_size", "pageSize"],
  ["page_token", "pageToken"],
];

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
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw invalidArgument("body", "must be a JSON object");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw invalidArgument("body", "must be a JSON object");
  return body as Record<string, unknown>;
}

/** Reads the allowed fields of a JSON body with their JSON types; anything else is an error naming the field. */
function fieldsOf(body: Record<string, unknown>, spec: Record<string, "string" | "string[]" | "boolean">) {
  const out: Record<string, string | string[] | boolean | undefined> = {};
  for (const [key, value] of Object.entries(body)) {
    const kind = spec[key];
    if (!kind) throw invalidArgument(key, "unknown field");
    if (value === null || value === undefined) continue;
    const ok =
      kind === "string[]" ? Array.isArray(value) && value.every((v) => typeof v === "string") : kind === "boolean" ? typeof value === "boolean" : typeof value === "string";
    if (!ok) throw invalidArgument(key, kind === "string[]" ? "must be an array of strings" : `must be a ${kind}`);
    out[key] = value as string | string[] | boolean;
  }
  return out;
}

const subscriptionJson = (s: Subscription) => ({
  id: s.id,
  name: s.name,
  url: s.url,
  eventTypes: s.eventTypes,
  description: s.description,
  enabled: s.enabled,
  disabledReason: s.disabledReason,
  createdAt: s.createdAt.toISOString(),
  updatedAt: s.updatedAt.toISOString(),
  secretRotatedAt: s.secretRotatedAt.toISOString(),
  previousSecretExpiresAt: s.previousSecretExpiresAt?.toISOString() ?? null,
});

/**
 * The seed's subscription API in its JSON shape (Bearer tenant key):
 * POST/GET /v1/webhooks, GET/PATCH/DELETE /v1/webhooks/:id. The same rules
 * and domain code as WebhookService; errors are the JSON errors of the plain
 * HTTP routes, naming the request's fields.
 */
export function mountWebhookRoutes(app: Hono, deps: WebhookRouteDeps): void {
  const { authenticator } = deps;
  const { subscriptions } = deps.webhooks;
  const tenant = async (c: Context) => (await authenticator.requireTenant(c.req.header("authorization"))).tenantId;
  const idOf = (c: Context) => {
    const id = c.req.param("id") ?? "";
    validate(GetSubscriptionRequestSchema, create(GetSubscriptionRequestSchema, { subscriptionId: id }));
    return id;
  };

  app.post("/v1/webhooks", async (c) => {
    const tenantId = await tenant(c);
    const f = fieldsOf(await jsonObject(c), { name: "string", url: "string", eventTypes: "string[]", description: "string" });
    const req = create(CreateSubscriptionRequestSchema, {
      name: f.name as string | undefined,
      url: f.url as string | undefined,
      eventTypes: f.eventTypes as string[] | undefined,
      description: f.description as string | undefined,
    });
    validate(CreateSubscriptionRequestSchema, req);
    const { subscription, secret } = await rest(
      subscriptions.create(tenantId, { name: req.name, url: req.url, eventTypes: req.eventTypes, description: req.description }),
    );
    return c.json({ ...subscriptionJson(subscription), secret }, 201);
  });

  app.get("/v1/webhooks", async (c) => {
    const tenantId = await tenant(c);
    const pageSizeText = c.req.query("pageSize");
    const pageSize = pageSizeText === undefined ? 0 : Number(pageSizeText);
    if (!Number.isInteger(pageSize)) throw invalidArgument("pageSize", "must be an integer");
    const req = create(ListSubscriptionsRequestSchema, { pageSize, pageToken: c.req.query("pageToken") ?? "" });
    validate(ListSubscriptionsRequestSchema, req);
    const page = await subscriptions.list(tenantId, { pageSize: req.pageSize, pageToken: req.pageToken });
    return c.json({ webhooks: page.subscriptions.map(subscriptionJson), nextPageToken: page.nextPageToken });
  });

  app.get("/v1/webhooks/:id", async (c) => {
    const tenantId = await tenant(c);
    return c.json(subscriptionJson(await subscriptions.get(tenantId, idOf(c))));
  });

  app.patch("/v1/webhooks/:id", async (c) => {
    const tenantId = await tenant(c);
    const id = idOf(c);
    const f = fieldsOf(await jsonObject(c), { name: "string", url: "string", eventTypes: "string[]", description: "string", enabled: "boolean" });
    // PATCH changes the fields the body holds: the REST form of update_mask.
    const paths = Object.keys(f).map((k) => (k === "eventTypes" ? "event_types" : k));
    const req = create(UpdateSubscriptionRequestSchema, {
      subscriptionId: id,
      name: (f.name as string | undefined) ?? "",
      url: (f.url as string | undefined) ?? "",
      eventTypes: (f.eventTypes as string[] | undefined) ?? [],
      description: (f.description as string | undefined) ?? "",
      enabled: (f.enabled as boolean | undefined) ?? false,
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
      }),
    );
    return c.json(subscriptionJson(subscription));
  });

  app.delete("/v1/webhooks/:id", async (c) => {
    const tenantId = await tenant(c);
    await subscriptions.delete(tenantId, idOf(c));
    return c.body(null, 204);
  });
}
