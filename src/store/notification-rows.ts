import { and, desc, eq, gte, lt, lte, or, type SQL } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { pageOf, pageWindow } from "../db/pagination.js";
import { AppError } from "../errors.js";
import type { JsonObject } from "../proofstream/module.js";
import type { Inbound, NotificationSource, StoreNotification } from "./inbound.js";
import { storeNotifications } from "./schema.js";

/* The store_notifications rows: the reads, and what of a notification its Proofstream leaf carries. */

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

/** The stored notification of a store's (tenant, source, external id), if any. */
export async function findStoreNotification(db: Db, tenantId: string, source: NotificationSource, externalId: string): Promise<StoreNotification | undefined> {
  const [row] = await db
    .select()
    .from(storeNotifications)
    .where(and(eq(storeNotifications.tenantId, tenantId), eq(storeNotifications.source, source), eq(storeNotifications.externalId, externalId)));
  return row && toNotification(row);
}

/**
 * A purchase Google voided, stored already by either way it arrives (an RTDN
 * voidedPurchaseNotification, keyed by its messageId; a voidedpurchases.list
 * item, keyed by order and time): the same purchase token, and the same order
 * where both name one.
 */
export async function findVoidedPurchase(db: Db, tenantId: string, purchaseToken: string, orderId: string): Promise<StoreNotification | undefined> {
  const [row] = await db
    .select()
    .from(storeNotifications)
    .where(
      and(
        eq(storeNotifications.tenantId, tenantId),
        eq(storeNotifications.source, "google"),
        eq(storeNotifications.notificationType, "VOIDED_PURCHASE"),
        eq(storeNotifications.purchaseToken, purchaseToken),
        orderId ? or(eq(storeNotifications.transactionId, orderId), eq(storeNotifications.transactionId, "")) : undefined,
      ),
    )
    .limit(1);
  return row && toNotification(row);
}

export async function getStoreNotification(db: Db, tenantId: string, id: string): Promise<StoreNotification | undefined> {
  const [row] = await db
    .select()
    .from(storeNotifications)
    .where(and(eq(storeNotifications.tenantId, tenantId), eq(storeNotifications.id, id)));
  return row && toNotification(row);
}

/** The leaf payload: normalized metadata only, never the raw JWS or message. */
export function leafMetadata(n: Inbound): JsonObject {
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
