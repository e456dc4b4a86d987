import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { AppError, invalidArgument } from "../../errors.js";
import { rfc3339 } from "../../webhooks/event-types.js";
import { ENVELOPE_JSON_LIMITS, isObject, parseJsonObject } from "../../json.js";
import { str, type Inbound } from "../inbound.js";

/** Google Play RTDN subscription notification types (DeveloperNotification.subscriptionNotification.notificationType). */
const GOOGLE_SUBSCRIPTION_TYPES: Record<number, string> = {
  1: "SUBSCRIPTION_RECOVERED",
  2: "SUBSCRIPTION_RENEWED",
  3: "SUBSCRIPTION_CANCELED",
  4: "SUBSCRIPTION_PURCHASED",
  5: "SUBSCRIPTION_ON_HOLD",
  6: "SUBSCRIPTION_IN_GRACE_PERIOD",
  7: "SUBSCRIPTION_RESTARTED",
  8: "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED",
  9: "SUBSCRIPTION_DEFERRED",
  10: "SUBSCRIPTION_PAUSED",
  11: "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
  12: "SUBSCRIPTION_REVOKED",
  13: "SUBSCRIPTION_EXPIRED",
  17: "SUBSCRIPTION_ITEMS_CHANGED",
  18: "SUBSCRIPTION_CANCELLATION_SCHEDULED",
  19: "SUBSCRIPTION_PRICE_CHANGE_UPDATED",
  20: "SUBSCRIPTION_PENDING_PURCHASE_CANCELED",
  22: "SUBSCRIPTION_PRICE_STEP_UP_CONSENT_UPDATED",
};
const GOOGLE_ONE_TIME_TYPES: Record<number, string> = { 1: "ONE_TIME_PRODUCT_PURCHASED", 2: "ONE_TIME_PRODUCT_CANCELED" };

/**
 * A Google Play RTDN Pub/Sub push (its body) for the tenant's package, as
 * the notification to store, commit and relay.
 */
export function googleNotification(tenantId: string, body: string, packageName: string): Inbound {
  const envelope = parseJsonObject(body, "body", undefined, ENVELOPE_JSON_LIMITS);
  const message = envelope.message;
  if (!isObject(message)) throw invalidArgument("message", "must be the Pub/Sub message");
  const messageId = message.messageId ?? message.message_id;
  if (typeof messageId !== "string" || !/^[!-~]{1,128}$/.test(messageId)) throw invalidArgument("message.messageId", "must be the Pub/Sub message id");
  if (typeof message.data !== "string") throw invalidArgument("message.data", "must be base64");
  let notification: Record<string, unknown>;
  try {
    notification = parseJsonObject(Buffer.from(message.data, "base64"), "message.data", undefined, ENVELOPE_JSON_LIMITS);
  } catch {
    throw invalidArgument("message.data", "must be a base64 DeveloperNotification (JSON)");
  }
  if (notification.packageName !== packageName) throw invalidArgument("message.data.packageName", "is not the tenant's package name");
  const publishTime = typeof message.publishTime === "string" && !Number.isNaN(Date.parse(message.publishTime)) ? new Date(message.publishTime) : new Date();
  const eventMillis = Number(notification.eventTimeMillis);
  const signedAt = Number.isFinite(eventMillis) && eventMillis > 0 ? new Date(eventMillis) : publishTime;

  const sub = isObject(notification.subscriptionNotification) ? notification.subscriptionNotification : undefined;
  const oneTime = isObject(notification.oneTimeProductNotification) ? notification.oneTimeProductNotification : undefined;
  const voided = isObject(notification.voidedPurchaseNotification) ? notification.voidedPurchaseNotification : undefined;
  const kind = sub ? "subscription" : oneTime ? "one_time_product" : voided ? "voided_purchase" : isObject(notification.testNotification) ? "test" : undefined;
  if (!kind) throw invalidArgument("message.data", "holds no known notification");
  const typeCode = Number((sub ?? oneTime)?.notificationType);
  const notificationType =
    kind === "subscription"
      ? (GOOGLE_SUBSCRIPTION_TYPES[typeCode] ?? `SUBSCRIPTION_${typeCode}`)
      : kind === "one_time_product"
        ? (GOOGLE_ONE_TIME_TYPES[typeCode] ?? `ONE_TIME_PRODUCT_${typeCode}`)
        : kind === "voided_purchase"
          ? "VOIDED_PURCHASE"
          : "TEST";
  const detail = sub ?? oneTime ?? voided ?? {};
  return {
    tenantId,
    source: "google",
    externalId: messageId,
    notificationType,
    subtype: "",
    environment: "",
    appId: packageName,
    transactionId: str(detail.orderId),
    originalTransactionId: "",
    productId: str(sub?.subscriptionId) || str(oneTime?.sku),
    purchaseToken: str(detail.purchaseToken),
    signedAt,
    payload: notification,
    raw: body,
    webhookData: { message_id: messageId, publish_time: rfc3339(publishTime), package_name: packageName, notification_kind: kind, payload: notification },
  };
}

/** Verifies the OIDC token Pub/Sub signs each push with, against Google's published keys. */
export class PubSubPushTokens {
  readonly #keys: JWTVerifyGetKey;

  constructor(
    jwksUrl: string,
    /** Accepted `iss` of push tokens. */
    private readonly issuers: string[],
  ) {
    this.#keys = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
  }

  /** Pub/Sub push: a Google-signed OIDC token for the tenant's audience and push service account. */
  async verify(authorization: string | undefined, credentials: { pubsubAudience: string | null; pubsubPushEmail: string | null }): Promise<void> {
    const token = /^Bearer ([A-Za-z0-9._-]+)$/.exec(authorization ?? "")?.[1];
    if (!token) throw new AppError("unauthenticated", "a Pub/Sub push OIDC token is required", { reason: "PUSH_TOKEN_MISSING" });
    if (!credentials.pubsubPushEmail) throw new AppError("unauthenticated", "the tenant accepts no Pub/Sub pushes (no push service account configured)", { reason: "PUSH_NOT_CONFIGURED" });
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, this.#keys, {
        issuer: this.issuers,
        audience: credentials.pubsubAudience ?? undefined,
        algorithms: ["RS256"],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError)) {
        throw new AppError("unavailable", "Google's signing keys could not be fetched", { retryAfterSeconds: 5, reason: "GOOGLE_KEYS_UNAVAILABLE" }, { cause: err });
      }
      throw new AppError("unauthenticated", `the Pub/Sub push token does not verify (${err.code})`, { reason: "PUSH_TOKEN_INVALID" });
    }
    if (claims.email !== credentials.pubsubPushEmail || claims.email_verified !== true) {
      throw new AppError("unauthenticated", "the Pub/Sub push token is not from the tenant's push service account", { reason: "PUSH_TOKEN_INVALID" });
    }
  }
}
