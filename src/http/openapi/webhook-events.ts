import { eventCatalogue } from "../../webhooks/module.js";
import { WEBHOOK_EVENT_TYPES } from "../../webhooks/event-types.js";
import { dateTime, json, ref, type OpenApiPart } from "./shared.js";
import { eventDataSchemaName } from "./webhooks.js";

/** "proofstream.checkpointed" → "onProofstreamCheckpointed": the operationId of a delivery of that event type. */
const deliveryOperationId = (type: string) =>
  "on" +
  type
    .split(/[._]/)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join("");

const header = (name: string, description: string) => ({ name, in: "header", required: true, description, schema: { type: "string" } });
/** The headers of every attempt (src/webhooks/signing.ts deliveryHeaders). */
const DELIVERY_HEADERS = [
  header("webhook-id", "Standard Webhooks: the delivery id (also in the body's `id`); the same on every attempt"),
  header("webhook-timestamp", "Standard Webhooks: seconds since the epoch when this attempt was signed"),
  header("webhook-signature", "Standard Webhooks: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under the decoded secret; during a rotation's overlap one per valid secret, space separated"),
  header("x-attesto-signature", "hex HMAC-SHA256 of `timestamp.body` keyed with the whole secret string"),
  header("x-attesto-timestamp", "the same timestamp as webhook-timestamp"),
  header("x-attesto-event", "the event type"),
  header("x-attesto-delivery-id", "the delivery id"),
  header("x-attesto-attempt", "the attempt number, from 1"),
  { ...header("x-attesto-ordering", "ordered subscriptions only: in_order, released_after_bound or redelivery"), required: false },
];

/**
 * What Attesto sends to a subscription's URL: one OpenAPI 3.1 webhook per
 * event type, whose body's `data` is that type's schema (the components
 * EventData_<type>, from schemas/events/).
 */
export function deliveryWebhooks(): Pick<OpenApiPart, "webhooks"> {
  const catalogue = new Map(eventCatalogue().map((e) => [e.name, e]));
  return {
    webhooks: Object.fromEntries(
      WEBHOOK_EVENT_TYPES.map((type) => {
        const entry = catalogue.get(type)!;
        const body = {
          type: "object",
          required: ["id", "event", "tenant_id", "created_at", "data"],
          properties: {
            id: { type: "string", pattern: "^dlv_", description: "the delivery id" },
            event: { const: type },
            tenant_id: { type: "string", pattern: "^ten_" },
            created_at: dateTime,
            data: ref(eventDataSchemaName(type)),
          },
        };
        const operation = {
          operationId: deliveryOperationId(type),
          summary: `${type}: ${entry.description}`,
          security: [],
          parameters: DELIVERY_HEADERS,
          requestBody: { required: true, content: json(body) },
          responses: {
            "200": { description: "delivered: any 2xx answer ends the delivery as succeeded" },
            "410": { description: "gone: the subscription is disabled (disabledReason endpoint_gone) and nothing more is sent to it" },
            default: { description: "any other answer, or none within the timeout: the attempt failed and the delivery is retried on its schedule (a 429 or 503 with Retry-After sets the delay)" },
          },
        };
        return [type, { post: operation }];
      }),
    ),
  };
}
