import { and, asc, desc, eq, gte, lt, sql } from "drizzle-orm";
import { deliveryOrdering, type DeliveryOrdering } from "./ordering.js";
import type { Db } from "../db/db.js";
import { AppError, notFound } from "../errors.js";
import { sha256Hex, urlHost, type AttemptRecorder } from "./attempt-recorder.js";
import type { DeliveryProofstreams } from "./proof-types.js";
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
  /** The host (and port) it was sent to. */
  urlHost: string;
  /** SHA-256 (hex) of the body sent and of the response excerpt. */
  bodySha256: string;
  responseSha256: string;
  /** The tenant's deliveries Proofstream and the attempt's event in it; null until committed. */
  proofStreamId: string | null;
  seqNo: number | null;
  /** The event's C2SP tlog-proof; null until a checkpoint covers it. */
  tlogProof: string | null;
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
  /** Ordered subscriptions: the key whose deliveries keep their order (ordering.ts); null when unordered. */
  orderingKey: string | null;
  /** What the delivery says of its order, as its attempts' X-Attesto-Ordering header ("" when unordered). */
  ordering: DeliveryOrdering;
  /** Held behind an earlier delivery of its key since then; null when never held. */
  heldSince: Date | null;
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
    orderingKey: row.orderingKey,
    ordering: deliveryOrdering(row),
    heldSince: row.heldSince,
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

/** The most deliveries one RecoverDeliveries call reopens. */
export const RECOVER_LIMIT = 10_000;

/** What a tenant sees and does with its deliveries: read them and their attempts, redeliver, send a test event. */
export class Deliveries {
  constructor(
    private readonly deps: {
      db: Db;
      store: DeliveryRows;
      outbox: WebhookOutbox;
      engine: WebhookEngine;
      subscriptions: Subscriptions;
      publicBaseUrl: () => string;
      recorder: AttemptRecorder;
      proofstreams: () => DeliveryProofstreams | undefined;
    },
  ) {}

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
    const proven = attempts.some((a) => a.seqNo !== null);
    const streamId = proven ? await this.deps.recorder.existingStreamOf(tenantId) : undefined;
    const bodySha256 = sha256Hex(row.body);
    const host = urlHost(row.url);
    return toDelivery(
      row,
      await Promise.all(
        attempts.map(async (a) => ({
          number: a.number,
          startedAt: a.startedAt,
          finishedAt: a.finishedAt,
          latencyMs: a.latencyMs,
          statusCode: a.statusCode,
          errorKind: a.errorKind,
          responseExcerpt: a.responseExcerpt,
          urlHost: host,
          bodySha256,
          responseSha256: sha256Hex(a.responseExcerpt),
          proofStreamId: a.seqNo !== null ? (streamId ?? null) : null,
          seqNo: a.seqNo,
          tlogProof: a.seqNo !== null && streamId ? await this.#tlogProof(tenantId, streamId, a.seqNo) : null,
        })),
      ),
    );
  }

  /** An attempt's tlog-proof, or null while no checkpoint covers its event yet. */
  async #tlogProof(tenantId: string, streamId: string, seqNo: number): Promise<string | null> {
    const proofstreams = this.deps.proofstreams();
    if (!proofstreams) return null;
    try {
      return await proofstreams.tlogProof(tenantId, streamId, seqNo);
    } catch (err) {
      // No checkpoint yet (not_found), or none that covers the event yet (failed_precondition).
      if (err instanceof AppError && (err.code === "failed_precondition" || err.code === "not_found")) return null;
      throw err;
    }
  }

  /**
   * Reopens every FAILED delivery of the subscription created in
   * [since, until) for one more attempt (up to `limit`, oldest first), in
   * one statement, and makes their jobs run. Pending and succeeded ones are
   * left alone, so calling it twice recovers nothing twice.
   */
  async recover(tenantId: string, subscriptionId: string, since: Date, until: Date = new Date(), limit = RECOVER_LIMIT): Promise<{ deliveryIds: string[]; more: boolean }> {
    const subscription = await this.deps.subscriptions.get(tenantId, subscriptionId);
    if (!subscription.enabled) throw new AppError("failed_precondition", "the subscription is disabled: enable it first", { reason: "SUBSCRIPTION_DISABLED" });
    if (until <= since) throw new AppError("invalid_argument", "must be after since", { field: "until" });
    const d = webhookDeliveries;
    const reopened = await this.deps.db.transaction(async (tx) => {
      const picked = await tx
        .select({ id: d.id })
        .from(d)
        .where(and(eq(d.subscriptionId, subscriptionId), eq(d.tenantId, tenantId), eq(d.status, "failed"), gte(d.createdAt, since), lt(d.createdAt, until)))
        .orderBy(asc(d.id))
        .limit(limit + 1)
        .for("update", { skipLocked: true });
      const ids = picked.slice(0, limit).map((r) => r.id);
      if (ids.length === 0) return { ids, more: false };
      const now = new Date();
      await tx
        .update(d)
        .set({ status: "pending", failureReason: null, finalAttempt: sql`${d.attemptCount} + 1`, nextAttemptAt: now, completedAt: null, enqueuedAt: now })
        .where(
          and(
            sql`${d.id} IN (${sql.join(
              ids.map((id) => sql`${id}`),
              sql`, `,
            )})`,
            eq(d.status, "failed"),
          ),
        );
      return { ids, more: picked.length > limit };
    });
    for (let i = 0; i < reopened.ids.length; i += 50) await Promise.all(reopened.ids.slice(i, i + 50).map((id) => this.deps.engine.ensureJob(id)));
    return { deliveryIds: reopened.ids, more: reopened.more };
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
