import { EventEmitter } from "node:events";
import { sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { AppError, invalidArgument } from "../errors.js";
import { newId } from "../ids.js";
import { isWebhookEventType, rfc3339, type WebhookEventType } from "./events.js";

/**
 * New outbox rows are put on the queue by the engine's outbox poller, which
 * takes committed rows that have no job yet (every instance polls; each row
 * is taken once). Rows written by this process also wake the poller at once
 * ("written"), so their jobs follow their commit by milliseconds rather than
 * a poll interval. (NOTIFY would announce them at commit too, but Postgres
 * serializes the commits of notifying transactions, which would cap every
 * producer's write rate.)
 */
export const outboxWrites = new EventEmitter();

/** Largest `data` accepted, serialized. */
export const MAX_DATA_BYTES = 256 * 1024;

/** Rows per INSERT statement. */
const ROWS_PER_STATEMENT = 200;
/** Delivery ids made ahead for one event: enough for most tenants' subscriptions to one type. */
const IDS_PER_ROUND = 8;

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
 * for a single statement); their jobs are enqueued once they are committed.
 * Returns the new delivery ids.
 */
export async function insertDeliveries(tx: Db, deliveries: NewDelivery[]): Promise<string[]> {
  const serialized = new Map<Record<string, unknown>, string>();
  const ids: string[] = [];
  for (let i = 0; i < deliveries.length; i += ROWS_PER_STATEMENT) {
    const values = deliveries.slice(i, i + ROWS_PER_STATEMENT).map((d) => {
      const id = newId("dlv");
      ids.push(id);
      const createdAt = d.createdAt ?? new Date();
      let dataJson = serialized.get(d.data);
      if (dataJson === undefined) serialized.set(d.data, (dataJson = serializeData(d.data)));
      const body = deliveryBody(id, d.eventType, d.tenantId, createdAt, dataJson);
      const at = createdAt.toISOString();
      return sql`(${id}, ${d.tenantId}, ${d.subscriptionId}, ${d.eventType}, ${d.url}, ${body}, ${d.test ?? false}, ${at}::timestamptz, ${at}::timestamptz)`;
    });
    await tx.execute(sql`INSERT INTO webhook_deliveries (id, tenant_id, subscription_id, event_type, url, body, test, next_attempt_at, created_at)
        VALUES ${sql.join(values, sql`, `)}`);
  }
  if (ids.length > 0) outboxWrites.emit("written");
  return ids;
}

/**
 * The producers' API: one delivery per enabled subscription of `tenantId`
 * to `type`, written in `tx`, so that the event exists exactly when the
 * change that caused it commits. The jobs are enqueued after the commit (by
 * the outbox poller of any instance: at once in this one).
 *
 * @example
 * await db.transaction(async (tx) => {
 *   // ... the change ...
 *   await emitWebhookEvent(tx, tenantId, "proofstream.checkpointed", { stream_id, tree_size, ... });
 * });
 */
export async function emitWebhookEvent(tx: Db, tenantId: string, type: WebhookEventType, data: Record<string, unknown>): Promise<void> {
  if (!isWebhookEventType(type)) throw new AppError("invalid_argument", `unknown webhook event type "${String(type).slice(0, 64)}"`);
  const createdAt = new Date();
  // The body after its id: the same bytes as deliveryBody() gives.
  const q = JSON.stringify;
  const tail = `,"event":${q(type)},"tenant_id":${q(tenantId)},"created_at":${q(rfc3339(createdAt))},"data":${serializeData(data)}}`;
  const at = createdAt.toISOString();
  // One statement finds the matching subscriptions and writes their rows, with
  // ids made here; a tenant with more matching subscriptions than ids at hand
  // takes another round for the rest.
  let written = 0;
  for (let offset = 0; ; ) {
    const ids = Array.from({ length: IDS_PER_ROUND }, () => newId("dlv"));
    const [row] = await tx.execute<{ matching: number; inserted: number }>(
      sql`WITH subs AS (
            SELECT id, url, row_number() OVER (ORDER BY id) AS n FROM webhook_subscriptions
            WHERE tenant_id = ${tenantId} AND enabled AND deleted_at IS NULL AND event_types @> ARRAY[${type}]::text[]
          ), ids AS (
            SELECT id, n FROM unnest(ARRAY[${sql.join(
              ids.map((id) => sql`${id}`),
              sql`, `,
            )}]::text[]) WITH ORDINALITY AS t(id, n)
          ), ins AS (
            INSERT INTO webhook_deliveries (id, tenant_id, subscription_id, event_type, url, body, next_attempt_at, created_at)
            SELECT ids.id, ${tenantId}, subs.id, ${type}, subs.url, '{"id":"' || ids.id || '"' || ${tail}, ${at}::timestamptz, ${at}::timestamptz
            FROM subs JOIN ids ON ids.n + ${offset} = subs.n
            RETURNING 1
          )
          SELECT (SELECT count(*) FROM subs)::int AS matching, (SELECT count(*) FROM ins)::int AS inserted`,
    );
    written += row!.inserted;
    offset += row!.inserted;
    if (offset >= row!.matching || row!.inserted === 0) break;
  }
  if (written > 0) outboxWrites.emit("written");
}
