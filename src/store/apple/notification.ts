import { AppError, invalidArgument } from "../../errors.js";
import { rfc3339 } from "../../webhooks/event-types.js";
import { isObject } from "../../json.js";
import { str, type Inbound } from "../inbound.js";
import type { AppleSignedDataResult } from "../verification.js";

/**
 * An App Store Server Notification V2 whose `signedPayload` was verified
 * (`result`), as the notification to store, commit and relay. A payload
 * that did not verify or is no notification is refused.
 */
export function appleNotification(tenantId: string, signedPayload: string, result: AppleSignedDataResult): Inbound {
  if (!result.purchase.valid) throw new AppError("unauthenticated", `signedPayload does not verify: ${result.purchase.errorCode}`, { reason: "NOTIFICATION_UNVERIFIED" });
  if (result.kind !== "notification" || !result.payload) throw invalidArgument("signedPayload", "is not an App Store Server Notification");
  const uuid = result.notificationUuid;
  if (!/^[!-~]{1,128}$/.test(uuid)) throw invalidArgument("notificationUUID", "must be a printable id of at most 128 characters");
  const payload = result.payload;
  const data = (payload.data ?? payload.summary ?? {}) as Record<string, unknown>;
  const tx = (isObject(data.signedTransactionInfo) ? data.signedTransactionInfo : {}) as Record<string, unknown>;
  const renewal = (isObject(data.signedRenewalInfo) ? data.signedRenewalInfo : {}) as Record<string, unknown>;
  const environment = str(data.environment);
  const bundleId = str(data.bundleId);
  return {
    tenantId,
    source: "apple",
    externalId: uuid,
    notificationType: result.notificationType,
    subtype: result.notificationSubtype,
    environment,
    appId: bundleId,
    transactionId: str(tx.transactionId),
    originalTransactionId: str(tx.originalTransactionId) || str(renewal.originalTransactionId),
    productId: str(tx.productId) || str(renewal.productId),
    purchaseToken: "",
    signedAt: result.signedAt ?? new Date(),
    payload,
    raw: signedPayload,
    webhookData: {
      notification_uuid: uuid,
      notification_type: result.notificationType,
      subtype: result.notificationSubtype,
      environment,
      bundle_id: bundleId,
      signed_date: rfc3339(result.signedAt ?? new Date()),
      payload,
      transaction_info: isObject(data.signedTransactionInfo) ? data.signedTransactionInfo : null,
      renewal_info: isObject(data.signedRenewalInfo) ? data.signedRenewalInfo : null,
    },
  };
}
