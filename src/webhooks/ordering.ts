import { invalidArgument } from "../errors.js";

/**
 * Ordered delivery (opt-in per subscription): the deliveries of one ordering
 * key are attempted in the order their outbox rows were written; a later one
 * is held while an earlier one of the same key is pending (in flight or
 * waiting to retry), for at most the subscription's bound, after which it is
 * sent anyway and marked `released_after_bound`.
 */

/** The bound when a subscription does not set one: 10 minutes. */
export const DEFAULT_ORDERING_BOUND_SECONDS = 600;
/** The longest bound a subscription may set: 7 days (longer than the default retry schedule). */
export const MAX_ORDERING_BOUND_SECONDS = 7 * 24 * 3600;

/** The header every attempt of an ordered delivery carries, and its values. */
export const ORDERING_HEADER = "x-attesto-ordering";
export type DeliveryOrdering = "" | "in_order" | "released_after_bound" | "redelivery";

/** A bound as asked for (0: the default) as stored; errors name the contract field. */
export function checkOrderingBound(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_ORDERING_BOUND_SECONDS) {
    throw invalidArgument("ordering_bound_seconds", `must be a whole number of seconds from 0 (the default, ${DEFAULT_ORDERING_BOUND_SECONDS}) to ${MAX_ORDERING_BOUND_SECONDS}`);
  }
  return seconds === 0 ? DEFAULT_ORDERING_BOUND_SECONDS : seconds;
}

const text = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : undefined);
const field = (o: unknown, key: string): unknown => (o !== null && typeof o === "object" && !Array.isArray(o) ? (o as Record<string, unknown>)[key] : undefined);

/**
 * The key whose deliveries keep their order, from the event's type and data;
 * undefined: the event is sent unordered.
 *
 * - `proofstream.*` and `event.anchored`: `stream:<stream_id>`.
 * - `apple.notification`: `apple:<originalTransactionId>` (of transaction_info,
 *   else renewal_info: one App Store subscription); without one, the store
 *   stream (`stream:<stream_id>`).
 * - `google.notification`: `google:<purchaseToken>` (one Play subscription or
 *   purchase); without one, the store stream.
 * - `batch.confirmed` / `batch.failed`: `batch:<batch_id>`.
 * - `subscription.disabled`: `subscription:<subscription_id>`.
 */
export function orderingKey(eventType: string, data: Record<string, unknown>): string | undefined {
  const stream = text(data.stream_id);
  const byStream = stream ? `stream:${stream}` : undefined;
  switch (eventType) {
    case "apple.notification": {
      const original = text(field(data.transaction_info, "originalTransactionId")) ?? text(field(data.renewal_info, "originalTransactionId"));
      return original ? `apple:${original}` : byStream;
    }
    case "google.notification": {
      const payload = data.payload;
      const token =
        text(field(field(payload, "subscriptionNotification"), "purchaseToken")) ??
        text(field(field(payload, "oneTimeProductNotification"), "purchaseToken")) ??
        text(field(field(payload, "voidedPurchaseNotification"), "purchaseToken"));
      return token ? `google:${token}` : byStream;
    }
    case "batch.confirmed":
    case "batch.failed": {
      const batch = text(data.batch_id);
      return batch ? `batch:${batch}` : undefined;
    }
    case "subscription.disabled": {
      const sub = text(data.subscription_id);
      return sub ? `subscription:${sub}` : undefined;
    }
    default:
      return byStream;
  }
}

/**
 * What a delivery says of its order: "" (not ordered), `in_order`,
 * `released_after_bound` (sent while an earlier one of its key was still
 * pending, its bound having run out), or `redelivery` (redelivered or
 * recovered by the tenant: outside the order).
 */
export function deliveryOrdering(row: { orderingKey: string | null; releasedAfterBoundAt: Date | null; finalAttempt: number | null }): DeliveryOrdering {
  if (!row.orderingKey) return "";
  if (row.releasedAfterBoundAt) return "released_after_bound";
  return row.finalAttempt === null ? "in_order" : "redelivery";
}
