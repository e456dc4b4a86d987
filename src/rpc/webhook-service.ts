import { create } from "@bufbuild/protobuf";
import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
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
import { deliveryView, subscriptionView, type ViewFormat } from "../contract/webhook-views.js";
import { invalidArgument } from "../errors.js";
import { isWebhookEventType } from "../webhooks/event-types.js";
import type { Delivery, Subscription, SubscriptionPatch, Webhooks } from "../webhooks/module.js";
import type { AttemptErrorKind as ErrorKind, DeliveryStatus as Status } from "../webhooks/schema.js";
import { tenantOf } from "./context.js";

/** Tenant webhook subscriptions and deliveries; every query is scoped by the caller's tenant. */
export function webhookService({ webhooks }: { webhooks: Webhooks }): ServiceImpl<typeof WebhookService> {
  const { subscriptions, deliveries } = webhooks;
  return {
    async createSubscription(req, ctx) {
      const { subscription, secret } = await subscriptions.create(
        tenantOf(ctx).tenantId,
        {
          name: req.name,
          url: req.url,
          eventTypes: req.eventTypes,
          description: req.description,
          maxDeliveriesPerSecond: req.maxDeliveriesPerSecond,
          ordered: req.ordered,
          orderingBoundSeconds: req.orderingBoundSeconds,
        },
        req.requestId,
      );
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
    async recoverDeliveries(req, ctx) {
      const { deliveryIds, more } = await deliveries.recover(tenantOf(ctx).tenantId, req.subscriptionId, timestampDate(req.since!), req.until ? timestampDate(req.until) : undefined);
      return { recoveredCount: deliveryIds.length, deliveryIds, more };
    },
    listEventTypes(req) {
      const page = webhooks.eventTypes({ pageSize: req.pageSize, pageToken: req.pageToken });
      return {
        nextPageToken: page.nextPageToken,
        eventTypes: page.eventTypes.map((e) => ({
          name: e.name,
          description: e.description,
          dataSchema: e.dataSchema as JsonObject,
          example: e.example as JsonObject,
          sinceVersion: e.sinceVersion,
        })),
      };
    },
  };
}

const UPDATABLE = ["name", "url", "event_types", "description", "enabled", "max_deliveries_per_second", "ordered", "ordering_bound_seconds"] as const;

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
    maxDeliveriesPerSecond: named.has("max_deliveries_per_second") ? req.maxDeliveriesPerSecond : undefined,
    ordered: named.has("ordered") ? req.ordered : undefined,
    orderingBoundSeconds: named.has("ordering_bound_seconds") ? req.orderingBoundSeconds : undefined,
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

/** The RPC edge writes Timestamps (unset when absent), the proto3 zero values and its enums. */
const RPC_FORMAT: ViewFormat<Timestamp, undefined, "", 0, DeliveryStatus, AttemptErrorKind> = {
  time: timestampFromDate,
  noTime: undefined,
  noText: "",
  noNumber: 0,
  status: (s) => statuses[s],
  errorKind: (k) => (k ? errorKinds[k] : AttemptErrorKind.UNSPECIFIED),
};

export const subscriptionMsg = (s: Subscription): SubscriptionMsg => create(SubscriptionSchema, subscriptionView(s, RPC_FORMAT));

export const deliveryMsg = (d: Delivery): DeliveryMsg => {
  const view = deliveryView(d, RPC_FORMAT);
  return create(DeliverySchema, { ...view, data: view.data as DeliveryMsg["data"], attempts: view.attempts.map((a) => create(AttemptSchema, { ...a, seqNo: BigInt(a.seqNo) })) });
};
