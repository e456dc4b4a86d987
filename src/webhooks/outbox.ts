import { currentTraceparent } from "../infra/tracing.js";
import { and, eq, isNull, sql, type SQL } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { AppError, invalidArgument } from "../errors.js";
import { newId } from "../ids.js";
import { isWebhookEventType, rfc3339, type WebhookEventData, type WebhookEventType } from "./event-types.js";
import { orderingKey } from "./ordering.js";
import { webhookDeliveryStreams, webhookSubscriptions } from "./schema.js";

/**
 * Events about a stream's growth. Of the tenant's deliveries Proofstream
 * they are not sent: each would be a delivery whose attempt grows that
 * stream again, so the next checkpoint (witnessing, anchor) would send
 * another, for ever. Its fork evidence and bundles are sent as any other.
 */
const GROWTH_EVENTS: ReadonlySet<string> = new Set(["proofstream.checkpointed", "proofstream.witnessed", "event.anchored"]);

/** The stream a growth event is about (its deliveries are dropped when that is a deliveries Proofstream), else undefined. */
function grownStream(type: string, data: unknown): string | undefined {
  const streamId = (data as { stream_id?: unknown }).stream_id;
  return GROWTH_EVENTS.has(type) && typeof streamId === "string" ? streamId : undefined;
}

/** Largest `data` accepted, serialized. */
export const MAX_DATA_BYTES = 256 * 1024;

/** Rows per INSERT statement. */
const ROWS_PER_STATEMENT = 200;

export interface NewDelivery {
  tenantId: string;
  subscriptionId: string;
  url: string;
  eventType: WebhookEventType;
  data: Record<string, unknown>;
  test?: boolean;
  createdAt?: Date;
  /** Ordered subscriptions only: the key whose deliveries keep their order (ordering.ts). */
  orderingKey?: string;
}

/**
 * What producers (Proofstream, store notifications, anchoring, bundles) are
 * given: emit an event inside the transaction of the change that caused it,
 * so that it exists exactly when that change commits; then say `committed()`
 * once the transaction has, so its deliveries leave at once instead of at
 * the next outbox poll.
 *
 * @example
 * await db.transaction(async (tx) => {
 *   // ... the change ...
 *   await events.emit(tx, tenantId, "proofstream.checkpointed", { stream_id, tree_size, ... });
 * });
 * events.committed();
 */
export interface WebhookEmitter {
  emit<T extends WebhookEventType>(tx: Db, tenantId: string, type: T, data: WebhookEventData[T]): Promise<number>;
  /**
   * The deliveries `emit` would write, as one part of a producer's own
   * statement (a data-modifying CTE's body), for a producer that commits in
   * one statement: each item whose `key` the `guard` keeps (a WHERE on alias
   * `i`) gets a delivery per enabled subscription of its tenant to `type`.
   */
  emitInStatement<T extends WebhookEventType>(type: T, items: ReadonlyArray<{ key: string; tenantId: string; data: WebhookEventData[T] }>, guard: SQL): SQL;
  /**
   * A condition for a producer's own statement, true exactly when
   * `emitInStatement` would write at least one delivery of `type` for an item
   * of tenant `tenantId` whose data's `stream_id` is `streamId` (both SQL
   * expressions), in the same snapshot. A producer that learned its item has
   * no recipient can leave the deliveries out of its statement and refuse its
   * change when this turns true, and so write nothing it would have written.
   */
  hasRecipientsInStatement(type: WebhookEventType, tenantId: SQL, streamId: SQL): SQL;
  committed(): void;
}

/** The subscriptions (alias s) that receive `type` for the tenant `tenantId` (an SQL expression). */
const subscribedTo = (type: WebhookEventType, tenantId: SQL) => sql`s.tenant_id = ${tenantId} AND s.enabled AND s.deleted_at IS NULL AND s.event_types @> ARRAY[${type}]::text[]`;

/** True unless `growthStream` (an SQL expression, NULL for other events) is one of the tenant's deliveries Proofstreams: GROWTH_EVENTS. */
const notDeliveriesStreamGrowth = (tenantId: SQL, growthStream: SQL) =>
  sql`(${growthStream} IS NULL OR NOT EXISTS (SELECT 1 FROM webhook_delivery_streams wds WHERE wds.tenant_id = ${tenantId} AND wds.stream_id = ${growthStream}))`;

function checkType(type: string): void {
  if (!isWebhookEventType(type)) throw new AppError("invalid_argument", `unknown webhook event type "${String(type).slice(0, 64)}"`, { field: "event_type" });
}

/** Delivery ids minted per item for emitInStatement; a tenant with more subscriptions to the type gets ids made in the statement. */
const MINTED_IDS = 4;

/**
 * The delivery body, `{id, event, tenant_id, created_at, data}` in that
 * order, serialized once and stored: every attempt sends the same bytes.
 */
export function deliveryBody(id: string, eventType: string, tenantId: string, createdAt: Date, dataJson: string): string {
  const q = JSON.stringify;
  return `{"id":${q(id)},"event":${q(eventType)},"tenant_id":${q(tenantId)},"created_at":${q(rfc3339(createdAt))},"data":${dataJson}}`;
}

function serializeData(data: unknown): string {
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
 * The transactional outbox of one process: writes delivery rows (one per
 * enabled subscription to the event's type) in the producer's transaction.
 * The engine's poller puts committed rows on the queue; `committed()` wakes
 * it in this process (every instance also polls, for rows written by
 * others). NOTIFY would announce rows at commit too, but Postgres serializes
 * the commits of notifying transactions, which would cap every producer.
 */
export class WebhookOutbox implements WebhookEmitter {
  readonly #listeners = new Set<() => void>();

  constructor(private readonly db: Db) {}

  /** Called after a producer's transaction with new rows committed. */
  onCommitted(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  committed(): void {
    for (const listener of this.#listeners) listener();
  }

  /** Writes the event's deliveries in `tx`; returns how many subscriptions take it. */
  async emit<T extends WebhookEventType>(tx: Db, tenantId: string, type: T, data: WebhookEventData[T]): Promise<number> {
    checkType(type);
    const dataJson = serializeData(data);
    const grown = grownStream(type, data);
    const subscriptions = await tx
      .select({ id: webhookSubscriptions.id, url: webhookSubscriptions.url, ordered: webhookSubscriptions.ordered })
      .from(webhookSubscriptions)
      .where(
        and(
          eq(webhookSubscriptions.tenantId, tenantId),
          eq(webhookSubscriptions.enabled, true),
          isNull(webhookSubscriptions.deletedAt),
          sql`${webhookSubscriptions.eventTypes} @> ARRAY[${type}]::text[]`,
          grown === undefined ? undefined : sql`NOT EXISTS (SELECT 1 FROM ${webhookDeliveryStreams} w WHERE w.tenant_id = ${tenantId} AND w.stream_id = ${grown})`,
        ),
      );
    const createdAt = new Date();
    const key = subscriptions.some((s) => s.ordered) ? orderingKey(type, data as Record<string, unknown>) : undefined;
    await this.#insert(
      tx,
      subscriptions.map((s) => ({ tenantId, subscriptionId: s.id, url: s.url, eventType: type, dataJson, createdAt, orderingKey: s.ordered ? key : undefined })),
    );
    return subscriptions.length;
  }

  hasRecipientsInStatement(type: WebhookEventType, tenantId: SQL, streamId: SQL): SQL {
    checkType(type);
    return sql`(EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE ${subscribedTo(type, tenantId)}) AND ${notDeliveriesStreamGrowth(tenantId, GROWTH_EVENTS.has(type) ? streamId : sql`NULL::text`)})`;
  }

  emitInStatement<T extends WebhookEventType>(type: T, items: ReadonlyArray<{ key: string; tenantId: string; data: WebhookEventData[T] }>, guard: SQL): SQL {
    checkType(type);
    const createdAt = new Date();
    const json = JSON.stringify(
      items.map((item) => ({
        key: item.key,
        tenant_id: item.tenantId,
        data: serializeData(item.data),
        ids: Array.from({ length: MINTED_IDS }, () => newId("dlv")),
        // As emit: the ordering key for ordered subscriptions, and no growth event of a deliveries Proofstream.
        ordering_key: orderingKey(type, item.data as Record<string, unknown>) ?? null,
        growth_stream: grownStream(type, item.data) ?? null,
      })),
    );
    const at = createdAt.toISOString();
    // The body is deliveryBody's, byte for byte: to_jsonb(text)::text quotes a string as JSON.stringify does.
    // Past the minted ids, an id keeps the first one's time part (ULIDs sort by it) with 64 random bits.
    return sql`
      INSERT INTO webhook_deliveries (id, tenant_id, subscription_id, event_type, url, body, test, next_attempt_at, created_at, trace_parent, ordering_key, ordering_seq)
      SELECT d.id, d.tenant_id, d.subscription_id, ${type}, d.url,
        '{"id":' || to_jsonb(d.id)::text || ',"event":' || to_jsonb(${type}::text)::text || ',"tenant_id":' || to_jsonb(d.tenant_id)::text ||
          ',"created_at":' || to_jsonb(${rfc3339(createdAt)}::text)::text || ',"data":' || d.data || '}',
        false, ${at}::timestamptz, ${at}::timestamptz, ${currentTraceparent() ?? null},
        CASE WHEN d.ordered THEN d.ordering_key END, CASE WHEN d.ordered AND d.ordering_key IS NOT NULL THEN nextval('webhook_delivery_ordering_seq') END
      FROM (
        SELECT i.tenant_id, i.data, i.ordering_key, s.id AS subscription_id, s.url, s.ordered,
          COALESCE(i.ids ->> (row_number() OVER (PARTITION BY i.key ORDER BY s.id) - 1)::int, 'dlv_' || substr(i.ids ->> 0, 5, 10) || upper(substr(md5(random()::text), 1, 16))) AS id
        FROM jsonb_to_recordset(${json}::jsonb) AS i(key text, tenant_id text, data text, ids jsonb, ordering_key text, growth_stream text)
        JOIN webhook_subscriptions s ON ${subscribedTo(type, sql`i.tenant_id`)}
        ${guard}
          AND ${notDeliveriesStreamGrowth(sql`i.tenant_id`, sql`i.growth_stream`)}
      ) d
      RETURNING 1`;
  }

  /** Emits outside any transaction of the caller, and wakes the poller. */
  async emitNow<T extends WebhookEventType>(tenantId: string, type: T, data: WebhookEventData[T]): Promise<number> {
    const written = await this.emit(this.db, tenantId, type, data);
    if (written > 0) this.committed();
    return written;
  }

  /**
   * Writes explicit deliveries (test events) in `tx`; returns their ids. The
   * caller wakes the poller (`committed()`) after its transaction commits.
   */
  async insert(tx: Db, deliveries: NewDelivery[]): Promise<string[]> {
    return this.#insert(
      tx,
      deliveries.map((d) => ({ ...d, dataJson: serializeData(d.data), createdAt: d.createdAt ?? new Date() })),
    );
  }

  async #insert(tx: Db, rows: Array<Omit<NewDelivery, "data"> & { dataJson: string; createdAt: Date }>): Promise<string[]> {
    const ids: string[] = [];
    // Null while tracing is off.
    const traceParent = currentTraceparent() ?? null;
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      const values = rows.slice(i, i + ROWS_PER_STATEMENT).map((d) => {
        const id = newId("dlv");
        ids.push(id);
        const body = deliveryBody(id, d.eventType, d.tenantId, d.createdAt, d.dataJson);
        const at = d.createdAt.toISOString();
        // An ordered delivery's place in its key's order: the sequence, in the order the rows are written.
        const seq = d.orderingKey ? sql`nextval('webhook_delivery_ordering_seq')` : sql`NULL::bigint`;
        return sql`(${id}, ${d.tenantId}, ${d.subscriptionId}, ${d.eventType}, ${d.url}, ${body}, ${d.test ?? false}, ${at}::timestamptz, ${at}::timestamptz, ${traceParent}, ${d.orderingKey ?? null}::text, ${seq})`;
      });
      await tx.execute(sql`INSERT INTO webhook_deliveries (id, tenant_id, subscription_id, event_type, url, body, test, next_attempt_at, created_at, trace_parent, ordering_key, ordering_seq)
          VALUES ${sql.join(values, sql`, `)}`);
    }
    return ids;
  }
}
