import { and, asc, desc, eq, lt } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { notFound } from "../errors.js";
import { pageOf, pageWindow } from "../db/pagination.js";
import type { DeliveryRows } from "./delivery-rows.js";
import type { WebhookEngine } from "./engine.js";
import { sampleEventData, type WebhookEventType } from "./event-types.js";
import type { WebhookOutbox } from "./outbox.js";
import { webhookAttempts, webhookDeliveries, type AttemptErrorKind, type DeliveryStatus } from "./schema.js";
import type { Subscriptions } from "./subscriptions.js";

export interface Attempt {
  number: number;
  startedAt: Date;
  finishedAt: Date | null;
  latencyMs: number | null;
  statusCode: number | null;
  /** null while the attempt is in flight. */
  errorKind: AttemptErrorKind | null;
  responseExcerpt: string;
}

export interface Delivery {
  id: string;
  tenantId: string;
  subscriptionId: string;
  eventType: WebhookEventType;
  status: DeliveryStatus;
  failureReason: string | null;
  url: string;
  /** The body's `data`. */
  data: Record<string, unknown>;
  test: boolean;
  attemptCount: number;
  createdAt: Date;
  lastAttemptAt: Date | null;
  /** When the next attempt is due: set while pending and not in flight. */
  nextAttemptAt: Date | null;
  /** Oldest first; only from getDelivery. */
  attempts: Attempt[];
}

type Row = typeof webhookDeliveries.$inferSelect;

function toDelivery(row: Row, attempts: Attempt[] = []): Delivery {
  return {
    id: row.id,
    tenantId: row.tenantId,
    subscriptionId: row.subscriptionId,
    eventType: row.eventType as WebhookEventType,
    status: row.status,
    failureReason: row.failureReason,
    url: row.url,
    data: (JSON.parse(row.body) as { data: Record<string, unknown> }).data,
    test: row.test,
    attemptCount: row.attemptCount,
    createdAt: row.createdAt,
    lastAttemptAt: row.lastAttemptAt,
    nextAttemptAt: row.status === "pending" && !row.inFlightUntil ? row.nextAttemptAt : null,
    attempts,
  };
}

export interface DeliveryFilter {
  subscriptionId?: string;
  status?: DeliveryStatus;
  eventType?: string;
  pageSize?: number;
  pageToken?: string;
}

/** What a tenant sees and does with its deliveries: read them and their attempts, redeliver, send a test event. */
export class Deliveries {
  constructor(private readonly deps: { db: Db; store: DeliveryRows; outbox: WebhookOutbox; engine: WebhookEngine; subscriptions: Subscriptions; publicBaseUrl: () => string }) {}

  /** Newest first, without attempts. */
  async list(tenantId: string, filter: DeliveryFilter = {}): Promise<{ deliveries: Delivery[]; nextPageToken: string }> {
    const win = pageWindow(filter);
    const { fetch, after: before } = win;
    const d = webhookDeliveries;
    const rows = await this.deps.db
      .select()
      .from(d)
      .where(
        and(
          eq(d.tenantId, tenantId),
          filter.subscriptionId ? eq(d.subscriptionId, filter.subscriptionId) : undefined,
          filter.status ? eq(d.status, filter.status) : undefined,
          filter.eventType ? eq(d.eventType, filter.eventType) : undefined,
          before ? lt(d.id, before) : undefined,
        ),
      )
      .orderBy(desc(d.id))
      .limit(fetch);
    const { items, nextPageToken } = pageOf(
      rows,
      win,
      (r) => r.id,
      (r) => toDelivery(r),
    );
    return { deliveries: items, nextPageToken };
  }

  /** One delivery of the tenant, with its attempts (another tenant's reads as not found). */
  async get(tenantId: string, id: string, db: Db = this.deps.db): Promise<Delivery> {
    const [row] = await db
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.tenantId, tenantId)))
      .limit(1);
    if (!row) throw notFound("delivery");
    // Read after the row, never beside it: an attempt and the state it led to commit together, so a
    // settled row read first is always followed by all of its attempts.
    const attempts = await db.select().from(webhookAttempts).where(eq(webhookAttempts.deliveryId, id)).orderBy(asc(webhookAttempts.number));
    return toDelivery(
      row,
      attempts.map((a) => ({
        number: a.number,
        startedAt: a.startedAt,
        finishedAt: a.finishedAt,
        latencyMs: a.latencyMs,
        statusCode: a.statusCode,
        errorKind: a.errorKind,
        responseExcerpt: a.responseExcerpt,
      })),
    );
  }

  /** A new attempt now, numbered after the others, same id and body; the delivery is pending until it ends. */
  async redeliver(tenantId: string, deliveryId: string): Promise<Delivery> {
    // Reopened and read in one transaction, so the answer is the delivery as reopened (pending),
    // never one whose new attempt already ended.
    const reopened = await this.deps.db.transaction(async (tx) => {
      await this.deps.store.reopen(tx, tenantId, deliveryId);
      return this.get(tenantId, deliveryId, tx);
    });
    await this.deps.engine.ensureJob(deliveryId);
    return reopened;
  }

  /** A delivery of the type's sample event to one subscription, whatever its event types, even disabled. */
  async sendTestEvent(tenantId: string, subscriptionId: string, eventType: WebhookEventType): Promise<Delivery> {
    const subscription = await this.deps.subscriptions.get(tenantId, subscriptionId);
    const data = sampleEventData(eventType, this.deps.publicBaseUrl()) as unknown as Record<string, unknown>;
    // Written and read in one transaction, so the answer is the delivery as created (pending):
    // no dispatcher sees the row before the read.
    const created = await this.deps.db.transaction(async (tx) => {
      const [id] = await this.deps.outbox.insert(tx, [{ tenantId, subscriptionId, url: subscription.url, eventType, data, test: true }]);
      return this.get(tenantId, id!, tx);
    });
    this.deps.outbox.committed();
    return created;
  }
}
