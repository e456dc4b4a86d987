import { create } from "@bufbuild/protobuf";
import type { Duration } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  AttemptErrorKind,
  AttemptSchema,
  DeliverySchema,
  DeliveryStatus,
  SubscriptionSchema,
  type Delivery as DeliveryMsg,
  type Subscription as SubscriptionMsg,
  type UpdateSubscriptionRequest,
  type WebhookService,
} from "../../gen/ts/attesto/v1/webhook_pb.js";
import { maskedFields } from "../contract/update-mask.js";
import { invalidArgument } from "../errors.js";
import { isWebhookEventType } from "../webhooks/event-types.js";
import type { Delivery, Subscription, SubscriptionPatch, Webhooks } from "../webhooks/module.js";
import type { AttemptErrorKind as ErrorKind, DeliveryStatus as Status } from "../webhooks/schema.js";
import { tenantOf } from "./context.js";
import { ts } from "./convert.js";

/** Tenant webhook subscriptions and deliveries; every query is scoped by the caller's tenant. */
export function webhookService({ webhooks }: { webhooks: Webhooks }): ServiceImpl<typeof WebhookService> {
  const { subscriptions, deliveries } = webhooks;
  return {
    async createSubscription(req, ctx) {
      const { subscription, secret } = await subscriptions.create(tenantOf(ctx).tenantId, { name: req.name, url: req.url, eventTypes: req.eventTypes, description: req.description }, req.requestId);
      return { subscription: subscriptionMsg(subscription), secret };
    },
    async getSubscription(req, ctx) {
      return { subscription: subscriptionMsg(await subscriptions.get(tenantOf(ctx).tenantId, req.subscriptionId)) };
    },
    async listSubscriptions(req, ctx) {
      const page = await subscriptions.list(tenantOf(ctx).tenantId, { pageSize: req.pageSize, pageToken: req.pageToken });
      return { subscriptions: page.subscriptions.map(subscriptionMsg), nextPageToken: page.nextPageToken };
    },
    async updateSubscription(req, ctx) {
      const subscription = await subscriptions.update(tenantOf(ctx).tenantId, req.subscriptionId, subscriptionPatch(req));
      return { subscription: subscriptionMsg(subscription) };
    },
    async deleteSubscription(req, ctx) {
      await subscriptions.delete(tenantOf(ctx).tenantId, req.subscriptionId, req.etag || undefined);
      return {};
    },
    async rotateSubscriptionSecret(req, ctx) {
      const overlapMs = req.overlap ? durationMs(req.overlap) : undefined;
      const { subscription, secret } = await subscriptions.rotateSecret(tenantOf(ctx).tenantId, req.subscriptionId, overlapMs, req.etag || undefined);
      return { subscription: subscriptionMsg(subscription), secret };
    },
    async listDeliveries(req, ctx) {
      const page = await deliveries.list(tenantOf(ctx).tenantId, {
        subscriptionId: req.subscriptionId,
        status: statusOf(req.status),
        eventType: req.eventType,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { deliveries: page.deliveries.map(deliveryMsg), nextPageToken: page.nextPageToken };
    },
    async getDelivery(req, ctx) {
      return { delivery: deliveryMsg(await deliveries.get(tenantOf(ctx).tenantId, req.deliveryId)) };
    },
    async redeliverDelivery(req, ctx) {
      return { delivery: deliveryMsg(await deliveries.redeliver(tenantOf(ctx).tenantId, req.deliveryId)) };
    },
    async sendTestEvent(req, ctx) {
      if (!isWebhookEventType(req.eventType)) throw invalidArgument("event_type", "unknown event type");
      return { delivery: deliveryMsg(await deliveries.sendTestEvent(tenantOf(ctx).tenantId, req.subscriptionId, req.eventType)) };
    },
  };
}

const UPDATABLE = ["name", "url", "event_types", "description", "enabled"] as const;

/** The domain patch of an UpdateSubscription: the fields its update_mask names, a named field that must not be empty checked. */
function subscriptionPatch(req: UpdateSubscriptionRequest): SubscriptionPatch {
  const named = maskedFields(req.updateMask?.paths, UPDATABLE);
  const required = (field: string, value: string) => {
    if (!value) throw invalidArgument(field, "is required when update_mask names it");
    return value;
  };
  return {
    name: named.has("name") ? required("name", req.name) : undefined,
    url: named.has("url") ? required("url", req.url) : undefined,
    eventTypes: named.has("event_types") ? req.eventTypes : undefined,
    description: named.has("description") ? req.description : undefined,
    enabled: named.has("enabled") ? req.enabled : undefined,
    etag: req.etag || undefined,
  };
}

function durationMs(d: Duration): number {
  if (d.seconds < 0n || d.nanos < 0) throw invalidArgument("overlap", "must not be negative");
  return Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
}

const statuses: Record<Status, DeliveryStatus> = {
  pending: DeliveryStatus.PENDING,
  succeeded: DeliveryStatus.SUCCEEDED,
  failed: DeliveryStatus.FAILED,
};

function statusOf(s: DeliveryStatus): Status | undefined {
  return (Object.entries(statuses) as Array<[Status, DeliveryStatus]>).find(([, v]) => v === s)?.[0];
}

const errorKinds: Record<ErrorKind, AttemptErrorKind> = {
  none: AttemptErrorKind.NONE,
  http_status: AttemptErrorKind.HTTP_STATUS,
  timeout: AttemptErrorKind.TIMEOUT,
  connection_refused: AttemptErrorKind.CONNECTION_REFUSED,
  dns: AttemptErrorKind.DNS,
  tls: AttemptErrorKind.TLS,
  blocked_address: AttemptErrorKind.BLOCKED_ADDRESS,
  network: AttemptErrorKind.NETWORK,
  interrupted: AttemptErrorKind.INTERRUPTED,
  internal: AttemptErrorKind.INTERNAL,
};

export const subscriptionMsg = (s: Subscription): SubscriptionMsg =>
  create(SubscriptionSchema, {
    id: s.id,
    name: s.name,
    url: s.url,
    eventTypes: s.eventTypes,
    description: s.description,
    enabled: s.enabled,
    disabledReason: s.disabledReason ?? "",
    createdAt: ts(s.createdAt),
    updatedAt: ts(s.updatedAt),
    secretRotatedAt: ts(s.secretRotatedAt),
    previousSecretExpiresAt: ts(s.previousSecretExpiresAt),
    etag: s.etag,
  });

export const deliveryMsg = (d: Delivery): DeliveryMsg =>
  create(DeliverySchema, {
    id: d.id,
    subscriptionId: d.subscriptionId,
    eventType: d.eventType,
    status: statuses[d.status],
    failureReason: d.failureReason ?? "",
    url: d.url,
    data: d.data as DeliveryMsg["data"],
    test: d.test,
    attemptCount: d.attemptCount,
    createdAt: ts(d.createdAt),
    lastAttemptAt: ts(d.lastAttemptAt),
    nextAttemptAt: ts(d.nextAttemptAt),
    attempts: d.attempts.map((a) =>
      create(AttemptSchema, {
        number: a.number,
        startedAt: ts(a.startedAt),
        latencyMs: a.latencyMs ?? 0,
        statusCode: a.statusCode ?? 0,
        errorKind: a.errorKind ? errorKinds[a.errorKind] : AttemptErrorKind.UNSPECIFIED,
        responseExcerpt: a.responseExcerpt,
      }),
    ),
  });
