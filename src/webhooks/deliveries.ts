import { and, asc, desc, eq, lt } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { notFound } from "../errors.js";
import { decodePageToken, encodePageToken, pageSizeOf } from "../ids.js";
import type { WebhookEventType } from "./events.js";
import { webhookAttempts, webhookDeliveries, type AttemptErrorKind, type DeliveryStatus } from "./schema.js";

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

/** Newest first, without attempts. */
export async function listDeliveries(db: Db, tenantId: string, filter: DeliveryFilter = {}): Promise<{ deliveries: Delivery[]; nextPageToken: string }> {
  const limit = pageSizeOf(filter.pageSize);
  const before = decodePageToken(filter.pageToken);
  const d = webhookDeliveries;
  const rows = await db
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
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return { deliveries: page.map((r) => toDelivery(r)), nextPageToken: rows.length > limit ? encodePageToken(page[page.length - 1]!.id) : "" };
}

/** One delivery of the tenant, with its attempts (another tenant's reads as not found). */
export async function getDelivery(db: Db, tenantId: string, id: string): Promise<Delivery> {
  const [row] = await db.select().from(webhookDeliveries).where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.tenantId, tenantId))).limit(1);
  if (!row) throw notFound("delivery");
  const attempts = await db
    .select()
    .from(webhookAttempts)
    .where(eq(webhookAttempts.deliveryId, id))
    .orderBy(asc(webhookAttempts.number));
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
