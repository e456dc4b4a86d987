/**
 * The webhooks module's API for producers (Proofstream, anchoring, store
 * notifications): emit an event inside the transaction of the change that
 * caused it. Each event type's `data` shape is WebhookEventData[type].
 */
export { emitWebhookEvent } from "./outbox.js";
export { isWebhookEventType, WEBHOOK_EVENT_TYPES, type WebhookEventData, type WebhookEventType } from "./events.js";
