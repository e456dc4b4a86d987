import { errors, ref, nullable, dateTime, json, answer, tenantAuth, SUB_ID, DELIVERY_ID, PAGE, type OpenApiPart } from "./shared.js";
import { WEBHOOK_EVENT_TYPES } from "../../webhooks/event-types.js";
import { eventCatalogue } from "../../webhooks/module.js";

const SUBSCRIPTION_REQUIRED: string[] = ["id", "name", "url", "eventTypes", "description", "enabled", "disabledReason", "createdAt", "updatedAt", "secretRotatedAt", "previousSecretExpiresAt"];
const SUBSCRIPTION_PROPERTIES = {
  id: { type: "string", pattern: "^sub_" },
  name: { type: "string" },
  url: { type: "string", format: "uri" },
  eventTypes: ref("EventTypes"),
  description: { type: "string" },
  enabled: { type: "boolean" },
  disabledReason: nullable("string", { description: "why deliveries stopped: disabled_by_tenant, endpoint_gone (410)…" }),
  createdAt: dateTime,
  updatedAt: dateTime,
  secretRotatedAt: dateTime,
  previousSecretExpiresAt: nullable("string", { format: "date-time", description: "until when the previous secret also signs (after a rotation)" }),
  maxDeliveriesPerSecond: { type: "integer", minimum: 0, description: "at most this many deliveries per second, by all instances together; 0: no limit" },
  ordered: { type: "boolean", description: "ordered delivery: the deliveries of one ordering key (stream, App Store original transaction, Play purchase token) are attempted in order" },
  orderingBoundSeconds: {
    type: "integer",
    minimum: 1,
    description: "how long an ordered delivery waits behind an earlier pending one before it is sent anyway (X-Attesto-Ordering: released_after_bound)",
  },
  consecutiveFailedDeliveries: { type: "integer", minimum: 0, description: "deliveries that ended failed in a row; the subscription is disabled (reason failing) at the server's limit" },
  failingSince: nullable("string", { format: "date-time", description: "the first failed attempt since the last success" }),
};
const SUBSCRIPTION_REQUIRED_ALL = [...SUBSCRIPTION_REQUIRED, "maxDeliveriesPerSecond", "ordered", "orderingBoundSeconds", "consecutiveFailedDeliveries", "failingSince"];
/** The ordering fields a create or a change takes. */
const ORDERING_INPUT = {
  ordered: { type: "boolean" },
  orderingBoundSeconds: { type: "integer", minimum: 0, maximum: 604800, description: "0: the default, 600" },
};
/** A delivery as the REST routes show it. */
const DELIVERY_SCHEMA = {
  type: "object",
  required: [
    "id",
    "subscriptionId",
    "eventType",
    "status",
    "failureReason",
    "url",
    "test",
    "data",
    "attemptCount",
    "createdAt",
    "lastAttemptAt",
    "nextAttemptAt",
    "orderingKey",
    "ordering",
    "heldSince",
  ],
  properties: {
    id: { type: "string", pattern: "^dlv_" },
    subscriptionId: { type: "string", pattern: "^sub_" },
    eventType: { type: "string", enum: [...WEBHOOK_EVENT_TYPES] },
    status: { type: "string", enum: ["pending", "succeeded", "failed"] },
    failureReason: nullable("string"),
    url: { type: "string" },
    test: { type: "boolean", description: 'sent by POST /v1/webhooks/{id}/test; its data also carries "test": true' },
    data: { type: "object", description: "the body's `data`, as sent" },
    attemptCount: { type: "integer", minimum: 0 },
    createdAt: dateTime,
    lastAttemptAt: nullable("string", { format: "date-time" }),
    nextAttemptAt: nullable("string", { format: "date-time", description: "set while pending and not in flight" }),
    orderingKey: nullable("string", { description: "ordered subscriptions: the key whose deliveries keep their order" }),
    ordering: {
      type: ["string", "null"],
      enum: ["in_order", "released_after_bound", "redelivery", null],
      description: "as the attempts' X-Attesto-Ordering header; null when unordered",
    },
    heldSince: nullable("string", { format: "date-time", description: "since when it was held behind an earlier delivery of its key" }),
    attempts: { type: "array", items: ref("Attempt"), description: "oldest first; only when reading one delivery" },
  },
  additionalProperties: false,
};
/** The component name of an event type's `data` schema (schemas/events/<type>.schema.json, embedded). */
export const eventDataSchemaName = (type: string) => `EventData_${type}`;

/** The webhook subscriptions and deliveries (tenant key). */
// eslint-disable-next-line max-lines-per-function -- a declarative table: the OpenAPI document of the webhook routes
export function webhookRoutes(): OpenApiPart {
  return {
    schemas: {
      EventTypes: { type: "array", minItems: 1, items: { type: "string", enum: [...WEBHOOK_EVENT_TYPES] } },
      Subscription: { type: "object", required: SUBSCRIPTION_REQUIRED_ALL, properties: SUBSCRIPTION_PROPERTIES, additionalProperties: false },
      SubscriptionWithSecret: {
        type: "object",
        required: [...SUBSCRIPTION_REQUIRED_ALL, "secret"],
        properties: { ...SUBSCRIPTION_PROPERTIES, secret: { type: "string", pattern: "^whsec_", description: "the signing secret, shown once" } },
        additionalProperties: false,
      },
      SubscriptionPage: {
        type: "object",
        required: ["webhooks", "nextPageToken"],
        properties: { webhooks: { type: "array", items: ref("Subscription") }, nextPageToken: { type: "string", description: "empty on the last page" } },
        additionalProperties: false,
      },
      Attempt: {
        type: "object",
        required: ["number", "startedAt", "finishedAt", "latencyMs", "statusCode", "errorKind", "responseExcerpt", "urlHost", "bodySha256", "responseSha256", "proofStreamId", "seqNo", "tlogProof"],
        properties: {
          number: { type: "integer", minimum: 1 },
          startedAt: dateTime,
          finishedAt: nullable("string", { format: "date-time" }),
          latencyMs: nullable("integer"),
          statusCode: nullable("integer", { description: "the receiver's HTTP status, when it answered" }),
          errorKind: {
            type: ["string", "null"],
            enum: ["none", "http_status", "timeout", "connection_refused", "dns", "tls", "blocked_address", "network", "interrupted", "internal", null],
            description: "null while the attempt is in flight",
          },
          responseExcerpt: { type: "string" },
          urlHost: { type: "string", description: "the host (and port) it was sent to" },
          bodySha256: { type: "string", pattern: "^[0-9a-f]{64}$", description: "SHA-256 of the body sent" },
          responseSha256: { type: "string", pattern: "^[0-9a-f]{64}$", description: "SHA-256 of responseExcerpt as UTF-8" },
          proofStreamId: nullable("string", { description: "the tenant's deliveries Proofstream; null until the attempt is committed" }),
          seqNo: nullable("integer", { description: "the attempt's event (type webhook.attempt, source_ref <delivery id>#<number>) in that stream" }),
          tlogProof: nullable("string", { description: "the event's C2SP tlog-proof; null until a checkpoint covers it" }),
        },
        additionalProperties: false,
      },
      EventType: {
        type: "object",
        required: ["name", "description", "dataSchema", "example", "sinceVersion"],
        properties: {
          name: { type: "string", enum: [...WEBHOOK_EVENT_TYPES] },
          description: { type: "string" },
          dataSchema: { type: "object", description: "the JSON Schema (2020-12) of the body's `data`: the component EventData_<name>" },
          example: { type: "object" },
          sinceVersion: { type: "string" },
        },
        additionalProperties: false,
      },
      RecoverResult: {
        type: "object",
        required: ["recoveredCount", "deliveryIds", "more"],
        properties: {
          recoveredCount: { type: "integer", minimum: 0 },
          deliveryIds: { type: "array", items: { type: "string", pattern: "^dlv_" } },
          more: { type: "boolean", description: "more failed deliveries in the window than one call recovers (10,000): call again" },
        },
        additionalProperties: false,
      },
      // The schemas of schemas/events/, one per event type ($schema dropped: they are subschemas here).
      ...Object.fromEntries(
        eventCatalogue().map((e) => {
          const { $schema: _, ...schema } = e.dataSchema;
          return [eventDataSchemaName(e.name), schema];
        }),
      ),
      Delivery: DELIVERY_SCHEMA,
      DeliveryPage: {
        type: "object",
        required: ["deliveries", "nextPageToken"],
        properties: { deliveries: { type: "array", items: ref("Delivery") }, nextPageToken: { type: "string" } },
        additionalProperties: false,
      },
    },
    paths: {
      "/v1/webhooks": {
        get: {
          operationId: "listSubscriptions",
          summary: "List the tenant's webhook subscriptions",
          security: tenantAuth,
          parameters: PAGE,
          responses: { "200": answer("a page of subscriptions", ref("SubscriptionPage")), ...errors(400, 401, 403, 429) },
        },
        post: {
          operationId: "createSubscription",
          summary: "Create a subscription; the signing secret is shown once",
          security: tenantAuth,
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["name", "url", "eventTypes"],
              properties: {
                name: { type: "string", maxLength: 200 },
                url: { type: "string", format: "uri" },
                eventTypes: ref("EventTypes"),
                description: { type: "string" },
                maxDeliveriesPerSecond: { type: "integer", minimum: 0, maximum: 10000 },
                ...ORDERING_INPUT,
              },
              additionalProperties: false,
            }),
          },
          responses: { "201": answer("created", ref("SubscriptionWithSecret")), ...errors(400, 401, 403, 429) },
        },
      },
      "/v1/webhooks/{id}": {
        parameters: [SUB_ID],
        get: {
          operationId: "getSubscription",
          summary: "Read one subscription",
          security: tenantAuth,
          responses: { "200": answer("the subscription", ref("Subscription")), ...errors(400, 401, 404) },
        },
        patch: {
          operationId: "updateSubscription",
          summary: "Change a subscription (only the fields given)",
          security: tenantAuth,
          requestBody: {
            required: true,
            content: json({
              type: "object",
              properties: {
                name: { type: "string" },
                url: { type: "string" },
                eventTypes: ref("EventTypes"),
                description: { type: "string" },
                enabled: { type: "boolean", description: "true re-enables (counters reset; nothing is requeued: see /recover)" },
                maxDeliveriesPerSecond: { type: "integer", minimum: 0, maximum: 10000 },
                ...ORDERING_INPUT,
              },
              additionalProperties: false,
            }),
          },
          responses: { "200": answer("the changed subscription", ref("Subscription")), ...errors(400, 401, 404) },
        },
        delete: {
          operationId: "deleteSubscription",
          summary: "Delete a subscription; its pending deliveries stop",
          security: tenantAuth,
          responses: { "204": answer("deleted"), ...errors(400, 401, 404) },
        },
      },
      "/v1/webhooks/{id}/rotate-secret": {
        parameters: [SUB_ID],
        post: {
          operationId: "rotateSubscriptionSecret",
          summary: "Rotate the signing secret; the previous one keeps signing during the overlap",
          security: tenantAuth,
          requestBody: {
            required: false,
            content: json({
              type: "object",
              properties: { overlapSeconds: { type: "integer", minimum: 0, maximum: 604800, description: "absent: ATTESTO_WEBHOOK_SECRET_OVERLAP_MS (24 h); 0 ends the old secret at once" } },
              additionalProperties: false,
            }),
          },
          responses: { "200": answer("the subscription and its new secret (shown once)", ref("SubscriptionWithSecret")), ...errors(400, 401, 404) },
        },
      },
      "/v1/webhooks/{id}/test": {
        parameters: [SUB_ID],
        post: {
          operationId: "sendTestEvent",
          summary: 'Send a sample event of any type to this subscription (even when disabled); its data carries "test": true',
          security: tenantAuth,
          requestBody: {
            required: true,
            content: json({ type: "object", required: ["eventType"], properties: { eventType: { type: "string", enum: [...WEBHOOK_EVENT_TYPES] } }, additionalProperties: false }),
          },
          responses: { "201": answer("the test delivery, pending", ref("Delivery")), ...errors(400, 401, 404) },
        },
      },
      "/v1/webhooks/{id}/deliveries": {
        parameters: [SUB_ID],
        get: {
          operationId: "listDeliveries",
          summary: "List this subscription's deliveries, newest first (without attempts)",
          security: tenantAuth,
          parameters: [
            ...PAGE,
            { name: "status", in: "query", schema: { type: "string", enum: ["pending", "succeeded", "failed"] } },
            { name: "event_type", in: "query", schema: { type: "string", enum: [...WEBHOOK_EVENT_TYPES] } },
          ],
          responses: { "200": answer("a page of deliveries", ref("DeliveryPage")), ...errors(400, 401, 404) },
        },
      },
      "/v1/webhooks/{id}/deliveries/{deliveryId}": {
        parameters: [SUB_ID, DELIVERY_ID],
        get: {
          operationId: "getDelivery",
          summary: "Read one delivery with its attempts",
          security: tenantAuth,
          responses: { "200": answer("the delivery", ref("Delivery")), ...errors(400, 401, 404) },
        },
      },
      "/v1/webhooks/{id}/recover": {
        parameters: [SUB_ID],
        post: {
          operationId: "recoverDeliveries",
          summary: "Attempt again every delivery of this subscription created in [since, until) that is failed (same ids and bodies); pending and succeeded ones are left alone",
          security: tenantAuth,
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["since"],
              properties: { since: dateTime, until: { ...dateTime, description: "absent: now" } },
              additionalProperties: false,
            }),
          },
          responses: { "200": answer("the deliveries recovered", ref("RecoverResult")), ...errors(400, 401, 404, 412) },
        },
      },
      "/v1/event-types": {
        get: {
          operationId: "listEventTypes",
          summary: "The webhook event catalogue: each type's description, the JSON Schema of its data (components EventData_<type>), an example and its since-version",
          security: tenantAuth,
          parameters: PAGE,
          responses: {
            "200": answer("the event types", {
              type: "object",
              required: ["eventTypes", "nextPageToken"],
              properties: { eventTypes: { type: "array", items: ref("EventType") }, nextPageToken: { type: "string", description: "empty on the last page" } },
              additionalProperties: false,
            }),
            ...errors(401),
          },
        },
      },
      "/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver": {
        parameters: [SUB_ID, DELIVERY_ID],
        post: {
          operationId: "redeliverDelivery",
          summary: "Attempt the delivery again now: same id and body, the next attempt number",
          security: tenantAuth,
          responses: { "202": answer("the delivery, pending again", ref("Delivery")), ...errors(400, 401, 404, 412) },
        },
      },
    },
  };
}
