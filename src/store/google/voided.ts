import { rfc3339 } from "../../webhooks/event-types.js";
import type { VoidedPurchase } from "../google-play-types.js";
import type { Inbound } from "../inbound.js";

/**
 * A purchase Google voided (one VoidedPurchase of voidedpurchases.list) as
 * the notification to store, commit and relay as google.voided. Its
 * external id is the voided order and the time Google voided it, so the
 * same voided purchase listed again (overlapping windows, a second run) is
 * stored once.
 */
export function voidedPurchaseNotification(tenantId: string, packageName: string, v: VoidedPurchase): Inbound {
  const voidedAt = v.voidedTime ?? new Date(0);
  const externalId = `voided:${v.orderId || v.purchaseToken}:${voidedAt.getTime()}`;
  return {
    tenantId,
    source: "google",
    externalId,
    eventType: "google.voided",
    notificationType: "VOIDED_PURCHASE",
    subtype: "",
    environment: "",
    appId: packageName,
    transactionId: v.orderId,
    originalTransactionId: "",
    productId: "",
    purchaseToken: v.purchaseToken,
    signedAt: voidedAt,
    payload: v.resource,
    raw: JSON.stringify(v.resource),
    webhookData: {
      package_name: packageName,
      purchase_token: v.purchaseToken,
      order_id: v.orderId,
      purchase_time: v.purchaseTime ? rfc3339(v.purchaseTime) : null,
      voided_time: rfc3339(voidedAt),
      voided_source: v.voidedSource,
      voided_reason: v.voidedReason,
      voided_quantity: v.voidedQuantity,
      payload: v.resource,
    },
  };
}
