import { eq, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { AppError, invalidArgument, notFound } from "../errors.js";
import { newId } from "../ids.js";
import type { Proofstreams } from "../proofstream/module.js";
import type { Tenancy } from "../tenancy/module.js";
import type { WebhookEventData } from "../webhooks/event-types.js";
import type { WebhookEmitter } from "../webhooks/module.js";
import { appleNotification } from "./apple/notification.js";
import { googleNotification, PubSubPushTokens } from "./google/notification.js";
import { ENVELOPE_JSON_LIMITS, parseJsonObject } from "../json.js";
import type { Inbound, NotificationArrival, StoreNotification } from "./inbound.js";
import { voidedPurchaseNotification } from "./google/voided.js";
import type { VoidedPurchase } from "./google-play-types.js";
import { findStoreNotification, findVoidedPurchase, getStoreNotification, leafMetadata, listStoreNotifications, type NotificationFilter } from "./notification-rows.js";
import { storeNotifications, storeStreams } from "./schema.js";
import type { StoreVerification } from "./verification.js";

export interface StoreNotificationSettings {
  /** Google's OIDC signing keys (https://www.googleapis.com/oauth2/v3/certs). */
  googleJwksUrl: string;
  /** Accepted `iss` of Pub/Sub push tokens. */
  googleIssuers: string[];
}

export interface ReceiveResult {
  notification: StoreNotification;
  /** A store's retry of a notification already stored: nothing was written. */
  duplicate: boolean;
}

/**
 * Inbound store notifications: verified before anything is stored, stored
 * once per (tenant, source, notificationUUID / messageId), committed as
 * normalized metadata (never the raw JWS) to the tenant's store
 * Proofstream, and relayed as apple.notification / google.notification
 * webhook events.
 */
export class StoreNotifications {
  readonly #pushTokens: PubSubPushTokens;
  private readonly streamCreations = new Map<string, Promise<string>>();

  constructor(
    private readonly deps: { db: Db; tenancy: Tenancy; store: StoreVerification; proofstreams: Proofstreams; events: WebhookEmitter },
    settings: StoreNotificationSettings,
  ) {
    this.#pushTokens = new PubSubPushTokens(settings.googleJwksUrl, settings.googleIssuers);
  }

  /** An App Store Server Notification V2 (`{"signedPayload": …}`) for a tenant. */
  async receiveApple(tenantId: string, body: string): Promise<ReceiveResult> {
    await this.deps.tenancy.requireActiveTenant(tenantId);
    const credentials = await this.deps.store.credentials.apple(tenantId);
    if (!credentials) throw notFound("apple notification endpoint");
    const signedPayload = parseJsonObject(body, "body", undefined, ENVELOPE_JSON_LIMITS).signedPayload;
    if (typeof signedPayload !== "string" || signedPayload.length === 0) throw invalidArgument("signedPayload", "must be the notification's JWS");
    return this.ingestApple(tenantId, signedPayload, "pushed");
  }

  /**
   * The one path of an Apple notification's signedPayload, pushed or found
   * by reconciliation: verified as the inbound route verifies it (the
   * tenant's bundle id and accepted environments), then recorded once.
   */
  async ingestApple(tenantId: string, signedPayload: string, arrival: NotificationArrival): Promise<ReceiveResult> {
    const expect = await this.deps.store.appleExpectation(tenantId, undefined);
    const result = await this.deps.store.decodeAppleSignedData(signedPayload, expect, "signedPayload");
    return this.record(appleNotification(tenantId, signedPayload, result), arrival);
  }

  /** A purchase Google voided (voidedpurchases.list), as a google.voided notification, recorded once per voided order. */
  ingestGoogleVoided(tenantId: string, packageName: string, voided: VoidedPurchase): Promise<ReceiveResult> {
    return this.record(voidedPurchaseNotification(tenantId, packageName, voided), "reconciled");
  }

  /** A Google Play RTDN Pub/Sub push for a tenant; `authorization` carries Google's OIDC token. */
  async receiveGoogle(tenantId: string, authorization: string | undefined, body: string): Promise<ReceiveResult> {
    await this.deps.tenancy.requireActiveTenant(tenantId);
    const credentials = await this.deps.store.credentials.google(tenantId);
    if (!credentials) throw notFound("google notification endpoint");
    await this.#pushTokens.verify(authorization, credentials);
    return this.record(googleNotification(tenantId, body, credentials.packageName), "pushed");
  }

  async get(tenantId: string, id: string): Promise<StoreNotification> {
    const notification = await getStoreNotification(this.deps.db, tenantId, id);
    if (!notification) throw notFound("notification");
    return notification;
  }

  /** Newest first (signed date, then id); the page token is the last item's position. */
  list(tenantId: string, filter: NotificationFilter): Promise<{ notifications: StoreNotification[]; nextPageToken: string }> {
    return listStoreNotifications(this.deps.db, tenantId, filter);
  }

  /** The one write path: commit to the store Proofstream, then the row and the relay in one transaction. */
  private async record(n: Inbound, arrival: NotificationArrival): Promise<ReceiveResult> {
    const existing =
      (await findStoreNotification(this.deps.db, n.tenantId, n.source, n.externalId)) ??
      // A voided purchase comes pushed (RTDN) or listed (reconciliation), under other ids: stored once either way.
      (n.source === "google" && n.notificationType === "VOIDED_PURCHASE" && n.purchaseToken ? await findVoidedPurchase(this.deps.db, n.tenantId, n.purchaseToken, n.transactionId) : undefined);
    if (existing) return { notification: existing, duplicate: true };
    const streamId = await this.storeStream(n.tenantId);
    // Appended first: a crash before the row is written leaves an event whose
    // source_ref makes the store's retry append nothing new.
    const eventType = n.eventType ?? `${n.source}.notification`;
    const { event } = await this.deps.proofstreams.append({
      tenantId: n.tenantId,
      streamId,
      sourceRef: `${n.source}:${n.externalId}`,
      eventType,
      occurredAt: n.signedAt,
      payload: leafMetadata(n),
    });
    const id = newId("ntf");
    const { webhookData: _relayed, eventType: _type, ...columns } = n;
    const inserted = await this.deps.db.transaction(async (tx) => {
      const rows = await tx
        .insert(storeNotifications)
        // Every field of the inbound notification is a column, except the relay's data.
        .values({ ...columns, id, streamId, seqNo: event.seqNo, arrival })
        .onConflictDoNothing()
        .returning({ id: storeNotifications.id });
      if (rows.length === 0) return false;
      const data = { ...n.webhookData, stream_id: streamId, seq_no: event.seqNo };
      await this.deps.events.emit(tx, n.tenantId, eventType, data as WebhookEventData[typeof eventType]);
      return true;
    });
    if (inserted) this.deps.events.committed();
    const stored = await findStoreNotification(this.deps.db, n.tenantId, n.source, n.externalId);
    if (!stored) throw new AppError("internal", "the notification row vanished");
    return { notification: stored, duplicate: !inserted };
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
}
