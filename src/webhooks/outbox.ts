import { and, arrayContains, eq, isNull, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { AppError, invalidArgument } from "../errors.js";
import { newId } from "../ids.js";
import { isWebhookEventType, rfc3339, type WebhookEventType } from "./events.js";
import { webhookDeliveries, webhookSubscriptions } from "./schema.js";

/**
 * The Postgres channel on which new delivery ids are announced. NOTIFY is
 * transactional: listeners hear about the rows only once the transaction
 * that wrote them has committed, which is when their jobs may be enqueued.
 */
export const OUTBOX_CHANNEL = "attesto_webhook_outbox";

/** Largest `data` accepted, serialized. */
export const MAX_DATA_BYTES = 256 * 1024;

/** A NOTIFY payload must stay under 8000 bytes: ids are announced in chunks. */
const IDS_PER_NOTIFY = 200;

export interface NewDelivery {
  tenantId: string;
  subscriptionId: string;
  url: string;
  eventType: WebhookEventType;
  data: Record<string, unknown>;
  test?: boolean;
  createdAt?: Date;
}

/**
 * The delivery body, `{id, event, tenant_id, created_at, data}` in that
 * order, serialized once and stored: every attempt sends the same bytes.
 */
export function deliveryBody(id: string, eventType: string, tenantId: string, createdAt: Date, dataJson: string): string {
  const q = JSON.stringify;
  return `{"id":${q(id)},"event":${q(eventType)},"tenant_id":${q(tenantId)},"created_at":${q(rfc3339(createdAt))},"data":${dataJson}}`;
}

function serializeData(data: Record<string, unknown>): string {
  if (data === null || typeof data !== "object" || Array.isArray(data)) throw invalidArgument("data", "must be a JSON object");
  let json: string;
  try {
    json = JSON.stringify(data);
  } catch {
    throw invalidArgument("data", "must be serializable as JSON");
  }
  if (Buffer.byteLength(json, "utf8") > MAX_DATA_BYTES) throw invalidArgument("data", `must be at most ${MAX_DATA_BYTES} bytes as JSON`);
  return json;
}

/**
 * Writes outbox rows inside `tx` (the caller's transaction, or the database
 * for a single statement) and announces them for after the commit. Returns
 * the new delivery ids.
 */
export async function insertDeliveries(tx: Db, deliveries: NewDelivery[]): Promise<string[]> {
  if (deliveries.length === 0) return [];
  const serialized = new Map<Record<string, unknown>, string>();
  const rows = deliveries.map((d) => {
    const id = newId("dlv");
    const createdAt = d.createdAt ?? new Date();
    let dataJson = serialized.get(d.data);
    if (dataJson === undefined) serialized.set(d.data, (dataJson = serializeData(d.data)));
    return {
      id,
      tenantId: d.tenantId,
      subscriptionId: d.subscriptionId,
      eventType: d.eventType,
      url: d.url,
      body: deliveryBody(id, d.eventType, d.tenantId, createdAt, dataJson),
      test: d.test ?? false,
      status: "pending" as const,
      nextAttemptAt: createdAt,
      createdAt,
    };
  });
  await tx.insert(webhookDeliveries).values(rows);
  const ids = rows.map((r) => r.id);
  for (let i = 0; i < ids.length; i += IDS_PER_NOTIFY) {
    await tx.execute(sql`SELECT pg_notify(${OUTBOX_CHANNEL}, ${ids.slice(i, i + IDS_PER_NOTIFY).join(",")})`);
  }
  return ids;
}

/**
 * The producers' API: one delivery per enabled subscription of `tenantId`
 * to `type`, written in `tx`, so that the event exists exactly when the
 * change that caused it commits. The jobs are enqueued after the commit (by
 * whichever instance hears the notification, or by the outbox relay).
 *
 * @example
 * await db.transaction(async (tx) => {
 *   // ... the change ...
 *   await emitWebhookEvent(tx, tenantId, "proofstream.checkpointed", { stream_id, tree_size, ... });
 * });
 */
export async function emitWebhookEvent(tx: Db, tenantId: string, type: WebhookEventType, data: Record<string, unknown>): Promise<void> {
  if (!isWebhookEventType(type)) throw new AppError("invalid_argument", `unknown webhook event type "${String(type).slice(0, 64)}"`);
  serializeData(data);
  const subscriptions = await tx
    .select({ id: webhookSubscriptions.id, url: webhookSubscriptions.url })
    .from(webhookSubscriptions)
    .where(
      and(
        eq(webhookSubscriptions.tenantId, tenantId),
        eq(webhookSubscriptions.enabled, true),
        isNull(webhookSubscriptions.deletedAt),
        arrayContains(webhookSubscriptions.eventTypes, [type]),
      ),
    );
  if (subscriptions.length === 0) return;
  const createdAt = new Date();
  await insertDeliveries(
    tx,
    subscriptions.map((s) => ({ tenantId, subscriptionId: s.id, url: s.url, eventType: type, data, createdAt })),
  );
}
