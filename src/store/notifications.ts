import { and, desc, eq, gte, lt, lte, or, sql, type SQL } from "drizzle-orm";
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from "jose";
import type { Db } from "../db/db.js";
import { storeNotifications, storeStreams } from "./schema.js";
import { AppError, invalidArgument, notFound } from "../errors.js";
import { newId } from "../ids.js";
import type { Tenancy } from "../tenancy/module.js";
import type { JsonObject } from "../proofstream/leaf.js";
import type { Proofstreams } from "../proofstream/module.js";
import { rfc3339, type WebhookEventData } from "../webhooks/event-types.js";
import type { WebhookEmitter } from "../webhooks/outbox.js";
import { pageOf, pageWindow } from "../db/pagination.js";
import type { StoreVerification } from "./verification.js";

export type NotificationSource = "apple" | "google";

export interface StoreNotificationSettings {
  /** Google's OIDC signing keys (https://www.googleapis.com/oauth2/v3/certs). */
  googleJwksUrl: string;
  /** Accepted `iss` of Pub/Sub push tokens. */
  googleIssuers: string[];
}

export interface StoreNotification {
  id: string;
  source: NotificationSource;
  /** Apple notificationUUID or Pub/Sub messageId. */
  externalId: string;
  notificationType: string;
  subtype: string;
  environment: string;
  appId: string;
  transactionId: string;
  originalTransactionId: string;
  productId: string;
  purchaseToken: string;
  signedAt: Date;
  receivedAt: Date;
  payload: Record<string, unknown>;
  streamId: string;
  seqNo: number;
}

export interface ReceiveResult {
  notification: StoreNotification;
  /** A store's retry of a notification already stored: nothing was written. */
  duplicate: boolean;
}

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

/** What every inbound notification becomes before it is stored: the stored fields, the raw bytes and the relay's data. */
type Inbound = Omit<StoreNotification, "id" | "receivedAt" | "streamId" | "seqNo"> & {
  tenantId: string;
  raw: string;
  webhookData: Record<string, unknown>;
};

/**
 * Inbound store notifications: verified before anything is stored, stored
 * once per (tenant, source, notificationUUID / messageId), committed as
 * normalized metadata (never the raw JWS) to the tenant's store
 * Proofstream, and relayed as apple.notification / google.notification
 * webhook events.
 */
export class StoreNotifications {
  private readonly googleKeys: JWTVerifyGetKey;
  private readonly streamCreations = new Map<string, Promise<string>>();

  constructor(
    private readonly deps: { db: Db; tenancy: Tenancy; store: StoreVerification; proofstreams: Proofstreams; events: WebhookEmitter },
    private readonly settings: StoreNotificationSettings,
  ) {
    this.googleKeys = createRemoteJWKSet(new URL(settings.googleJwksUrl), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
  }

  /** An App Store Server Notification V2 (`{"signedPayload": …}`) for a tenant. */
  async receiveApple(tenantId: string, body: string): Promise<ReceiveResult> {
    await this.deps.tenancy.requireActiveTenant(tenantId);
    const credentials = await this.deps.store.credentials.apple(tenantId);
    if (!credentials) throw notFound("apple notification endpoint");
    const signedPayload = jsonBody(body).signedPayload;
    if (typeof signedPayload !== "string" || signedPayload.length === 0) throw invalidArgument("signedPayload", "must be the notification's JWS");
    const expect = await this.deps.store.appleExpectation(tenantId, undefined);
    const result = await this.deps.store.decodeAppleSignedData(signedPayload, expect, "signedPayload");
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
    return this.record({
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
    });
  }

  /** A Google Play RTDN Pub/Sub push for a tenant; `authorization` carries Google's OIDC token. */
  async receiveGoogle(tenantId: string, authorization: string | undefined, body: string): Promise<ReceiveResult> {
    await this.deps.tenancy.requireActiveTenant(tenantId);
    const credentials = await this.deps.store.credentials.google(tenantId);
    if (!credentials) throw notFound("google notification endpoint");
    await this.verifyPushToken(authorization, credentials);

    const envelope = jsonBody(body);
    const message = envelope.message;
    if (!isObject(message)) throw invalidArgument("message", "must be the Pub/Sub message");
    const messageId = message.messageId ?? message.message_id;
    if (typeof messageId !== "string" || !/^[!-~]{1,128}$/.test(messageId)) throw invalidArgument("message.messageId", "must be the Pub/Sub message id");
    if (typeof message.data !== "string") throw invalidArgument("message.data", "must be base64");
    let notification: Record<string, unknown>;
    try {
      const decoded = JSON.parse(Buffer.from(message.data, "base64").toString("utf8")) as unknown;
      if (!isObject(decoded)) throw new Error("not an object");
      notification = decoded;
    } catch {
      throw invalidArgument("message.data", "must be a base64 DeveloperNotification (JSON)");
    }
    if (notification.packageName !== credentials.packageName) throw invalidArgument("message.data.packageName", "is not the tenant's package name");
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
    return this.record({
      tenantId,
      source: "google",
      externalId: messageId,
      notificationType,
      subtype: "",
      environment: "",
      appId: credentials.packageName,
      transactionId: str(detail.orderId),
      originalTransactionId: "",
      productId: str(sub?.subscriptionId) || str(oneTime?.sku),
      purchaseToken: str(detail.purchaseToken),
      signedAt,
      payload: notification,
      raw: body,
      webhookData: { message_id: messageId, publish_time: rfc3339(publishTime), package_name: credentials.packageName, notification_kind: kind, payload: notification },
    });
  }

  async get(tenantId: string, id: string): Promise<StoreNotification> {
    const [row] = await this.deps.db
      .select()
      .from(storeNotifications)
      .where(and(eq(storeNotifications.tenantId, tenantId), eq(storeNotifications.id, id)));
    if (!row) throw notFound("notification");
    return toNotification(row);
  }

  /** Newest first (signed date, then id); the page token is the last item's position. */
  list(tenantId: string, filter: NotificationFilter): Promise<{ notifications: StoreNotification[]; nextPageToken: string }> {
    return listStoreNotifications(this.deps.db, tenantId, filter);
  }

  /** The one write path: commit to the store Proofstream, then the row and the relay in one transaction. */
  private async record(n: Inbound): Promise<ReceiveResult> {
    const existing = await this.find(n.tenantId, n.source, n.externalId);
    if (existing) return { notification: existing, duplicate: true };
    const streamId = await this.storeStream(n.tenantId);
    // Appended first: a crash before the row is written leaves an event whose
    // source_ref makes the store's retry append nothing new.
    const { event } = await this.deps.proofstreams.append({
      tenantId: n.tenantId,
      streamId,
      sourceRef: `${n.source}:${n.externalId}`,
      eventType: `${n.source}.notification`,
      occurredAt: n.signedAt,
      payload: leafMetadata(n),
    });
    const id = newId("ntf");
    const { webhookData: _relayed, ...columns } = n;
    const inserted = await this.deps.db.transaction(async (tx) => {
      const rows = await tx
        .insert(storeNotifications)
        // Every field of the inbound notification is a column, except the relay's data.
        .values({ ...columns, id, streamId, seqNo: event.seqNo })
        .onConflictDoNothing()
        .returning({ id: storeNotifications.id });
      if (rows.length === 0) return false;
      const data = { ...n.webhookData, stream_id: streamId, seq_no: event.seqNo };
      if (n.source === "apple") await this.deps.events.emit(tx, n.tenantId, "apple.notification", data as WebhookEventData["apple.notification"]);
      else await this.deps.events.emit(tx, n.tenantId, "google.notification", data as WebhookEventData["google.notification"]);
      return true;
    });
    if (inserted) this.deps.events.committed();
    const stored = await this.find(n.tenantId, n.source, n.externalId);
    if (!stored) throw new AppError("internal", "the notification row vanished");
    return { notification: stored, duplicate: !inserted };
  }

  private async find(tenantId: string, source: NotificationSource, externalId: string): Promise<StoreNotification | undefined> {
    const [row] = await this.deps.db
      .select()
      .from(storeNotifications)
      .where(and(eq(storeNotifications.tenantId, tenantId), eq(storeNotifications.source, source), eq(storeNotifications.externalId, externalId)));
    return row && toNotification(row);
  }

  /** The tenant's store Proofstream, created on first use (once, also with concurrent first notifications). */
  async storeStream(tenantId: string): Promise<string> {
    const [row] = await this.deps.db.select().from(storeStreams).where(eq(storeStreams.tenantId, tenantId));
    if (row) return row.streamId;
    let pending = this.streamCreations.get(tenantId);
    if (!pending) {
      pending = this.createStoreStream(tenantId).finally(() => this.streamCreations.delete(tenantId));
      this.streamCreations.set(tenantId, pending);
    }
    return pending;
  }

  private async createStoreStream(tenantId: string): Promise<string> {
    return this.deps.db.transaction(async (tx) => {
      // Serializes creation across instances; the loser finds the winner's stream.
      await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${`attesto:store-stream:${tenantId}`}))`);
      const [row] = await tx.select().from(storeStreams).where(eq(storeStreams.tenantId, tenantId));
      if (row) return row.streamId;
      const stream = await this.deps.proofstreams.createStream(tenantId, "store notifications", { tx });
      await tx.insert(storeStreams).values({ tenantId, streamId: stream.id });
      return stream.id;
    });
  }

  /** Pub/Sub push: a Google-signed OIDC token for the tenant's audience and push service account. */
  private async verifyPushToken(authorization: string | undefined, credentials: { pubsubAudience: string | null; pubsubPushEmail: string | null }): Promise<void> {
    const token = /^Bearer ([A-Za-z0-9._-]+)$/.exec(authorization ?? "")?.[1];
    if (!token) throw new AppError("unauthenticated", "a Pub/Sub push OIDC token is required", { reason: "PUSH_TOKEN_MISSING" });
    if (!credentials.pubsubPushEmail) throw new AppError("unauthenticated", "the tenant accepts no Pub/Sub pushes (no push service account configured)", { reason: "PUSH_NOT_CONFIGURED" });
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, this.googleKeys, {
        issuer: this.settings.googleIssuers,
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

export interface NotificationFilter {
  source?: NotificationSource;
  type?: string;
  from?: Date;
  to?: Date;
  pageSize?: number;
  pageToken?: string;
}

/** A tenant's notifications, newest signed first, in cursor pages (also for the CLI). */
export async function listStoreNotifications(db: Db, tenantId: string, filter: NotificationFilter): Promise<{ notifications: StoreNotification[]; nextPageToken: string }> {
  const win = pageWindow(filter);
  const conditions: SQL[] = [eq(storeNotifications.tenantId, tenantId)];
  if (filter.source) conditions.push(eq(storeNotifications.source, filter.source));
  if (filter.type) conditions.push(eq(storeNotifications.notificationType, filter.type));
  if (filter.from) conditions.push(gte(storeNotifications.signedAt, filter.from));
  if (filter.to) conditions.push(lte(storeNotifications.signedAt, filter.to));
  if (win.after !== undefined) {
    const cursor = decodeCursor(win.after);
    conditions.push(or(lt(storeNotifications.signedAt, cursor.at), and(eq(storeNotifications.signedAt, cursor.at), lt(storeNotifications.id, cursor.id)))!);
  }
  const rows = await db
    .select()
    .from(storeNotifications)
    .where(and(...conditions))
    .orderBy(desc(storeNotifications.signedAt), desc(storeNotifications.id))
    .limit(win.fetch);
  const page = pageOf(rows, win, (r) => JSON.stringify([r.signedAt.toISOString(), r.id]), toNotification);
  return { notifications: page.items, nextPageToken: page.nextPageToken };
}

/** The leaf payload: normalized metadata only, never the raw JWS or message. */
function leafMetadata(n: Inbound): JsonObject {
  return {
    source: n.source,
    [n.source === "apple" ? "notification_uuid" : "message_id"]: n.externalId,
    notification_type: n.notificationType,
    subtype: n.subtype,
    environment: n.environment,
    app_id: n.appId,
    transaction_id: n.transactionId,
    original_transaction_id: n.originalTransactionId,
    product_id: n.productId,
    signed_date: n.signedAt.toISOString(),
  };
}

function toNotification(row: typeof storeNotifications.$inferSelect): StoreNotification {
  const { tenantId: _t, raw: _r, ...rest } = row;
  return rest;
}

function jsonBody(body: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw invalidArgument("body", "must be a JSON object");
  }
  if (!isObject(parsed)) throw invalidArgument("body", "must be a JSON object");
  return parsed;
}

/** The sort key a page token carries: the last notification's signed time and id. */
function decodeCursor(key: string): { at: Date; id: string } {
  try {
    const [at, id] = JSON.parse(key) as [string, string];
    const date = new Date(at);
    if (typeof id !== "string" || Number.isNaN(date.getTime())) throw new Error("bad cursor");
    return { at: date, id };
  } catch {
    throw new AppError("invalid_argument", "page_token: is not a token this API made", { field: "page_token", reason: "PAGE_TOKEN_INVALID" });
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");
