import { and, eq, inArray, isNull, sql, type SQL } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { AppError, notFound } from "../errors.js";
import type { AttemptErrorKind } from "./schema.js";
import { webhookDeliveries, webhookSubscriptions } from "./schema.js";
import { claimStatement, finishStatement, takeOutboxStatement, wakeNextStatement, type ClaimRow, type FinishRow } from "./claim-sql.js";
import { deliveryOrdering, type DeliveryOrdering } from "./ordering.js";

/** A delivery whose next attempt this worker now owns, with what signing it needs. */
export interface Claim {
  id: string;
  tenantId: string;
  subscriptionId: string;
  eventType: string;
  url: string;
  body: string;
  /** This attempt's number. */
  number: number;
  extraAttempts: number;
  finalAttempt: number | null;
  startedAt: Date;
  secretEnc: Buffer | null;
  previousSecretEnc: Buffer | null;
  previousSecretExpiresAt: Date | null;
  /** Ordered subscriptions: the delivery's ordering key; null when unordered. */
  orderingKey: string | null;
  /** What the attempt says of its order (the X-Attesto-Ordering header). */
  ordering: DeliveryOrdering;
}

/** An attempt's end, as recorded. */
export interface FinishedAttempt {
  id: string;
  subscriptionId: string;
  number: number;
  startedAt: Date;
  /** Set by the caller, so that the row and the attempt's event in the deliveries Proofstream say the same. */
  finishedAt: Date;
  latencyMs: number;
  statusCode: number | null;
  errorKind: AttemptErrorKind;
  excerpt: string;
  status: "pending" | "succeeded" | "failed";
  reason: string | null;
  nextAt: Date | null;
}

/** Why no attempt could be claimed. */
export interface DeliveryState {
  status: string;
  test: boolean;
  nextAttemptAt: Date | null;
  inFlightUntil: Date | null;
  enabled: boolean;
  deletedAt: Date | null;
  /** Held for ordered delivery (never attempted, its next attempt later) while no earlier delivery of its key is pending any more. */
  heldInVain: boolean;
}

// Raw rows of the prepared statements: the driver may give timestamps as
// strings and bytea as Uint8Array; they are read into Date and Buffer here, once.
const asDate = (v: Date | string | null): Date | null => (v === null ? null : v instanceof Date ? v : new Date(v));
const asBuffer = (v: Uint8Array | null): Buffer | null => (v === null ? null : Buffer.from(v));

/**
 * The state changes of deliveries, one statement each: claiming an attempt,
 * recording its end, failing, taking the outbox, the relay's look-up and
 * reopening for a redelivery. The delivery row is the truth; queue jobs are
 * only timers.
 */
/** What a delivery's queue job carries for the board: never the body, the secret or the full URL. */
export interface DeliveryLabel {
  deliveryId: string;
  tenantId: string;
  /** Whose throttle the delivery's attempts take their slots from. */
  subscriptionId: string;
  eventType: string;
  /** The endpoint's host only: a URL's path or query may carry a token. */
  endpointHost: string;
  /** The trace the delivery continues (tracing on only). */
  traceParent?: string;
}

const labelOf = (r: { id: string; tenant_id: string; subscription_id: string; event_type: string; url: string; trace_parent?: string | null }): DeliveryLabel => ({
  deliveryId: r.id,
  tenantId: r.tenant_id,
  subscriptionId: r.subscription_id,
  eventType: r.event_type,
  endpointHost: URL.canParse(r.url) ? new URL(r.url).host : "",
  ...(r.trace_parent ? { traceParent: r.trace_parent } : {}),
});

export class DeliveryRows {
  readonly #db: Db;

  constructor(
    db: Db,
    /** How long a claimed attempt may take before another worker may take over. */
    private readonly leaseMs: number,
  ) {
    this.#db = db;
  }

  /** One raw statement (prepared, like every statement on the pool), its rows unmapped. */
  async #query<T extends Record<string, unknown>>(statement: SQL): Promise<T[]> {
    return (await this.#db.execute<T>(statement)) as unknown as T[];
  }

  /** Claims the next attempt of each of these deliveries that is due, not in flight, and not held behind an earlier one of its order (claim-sql.ts). */
  async claim(ids: string[]): Promise<Map<string, Claim>> {
    const rows = await this.#query<ClaimRow>(claimStatement(ids, this.leaseMs));
    return new Map(
      rows.map((r) => [
        r.id,
        {
          id: r.id,
          tenantId: r.tenant_id,
          subscriptionId: r.subscription_id,
          eventType: r.event_type,
          url: r.url,
          body: r.body,
          number: r.attempt_count,
          extraAttempts: r.extra_attempts,
          finalAttempt: r.final_attempt,
          startedAt: asDate(r.started_at)!,
          secretEnc: asBuffer(r.secret_enc),
          previousSecretEnc: asBuffer(r.previous_secret_enc),
          previousSecretExpiresAt: asDate(r.previous_secret_expires_at),
          orderingKey: r.ordering_key,
          ordering: deliveryOrdering({ orderingKey: r.ordering_key, releasedAfterBoundAt: asDate(r.released_after_bound_at), finalAttempt: r.final_attempt }),
        },
      ]),
    );
  }

  /**
   * Records a batch of attempts (one row each, written once the attempt
   * ended) and moves each delivery on, unless it moved on without it (its
   * lease ran out and another worker took over: the attempt's real outcome
   * then replaces the "interrupted" placeholder). 410 Gone disables the
   * subscription and stops its other pending deliveries in the same commit.
   * Returns the keys (id#number) whose delivery moved on.
   */
  async finish(attempts: FinishedAttempt[]): Promise<Set<string>> {
    const rows = attempts.map((a): FinishRow => ({
      id: a.id,
      subscription_id: a.subscriptionId,
      number: a.number,
      started_at: a.startedAt.toISOString(),
      finished_at: a.finishedAt.toISOString(),
      latency_ms: a.latencyMs,
      status_code: a.statusCode,
      error_kind: a.errorKind,
      excerpt: a.excerpt,
      status: a.status,
      reason: a.reason,
      next_at: a.nextAt?.toISOString() ?? null,
    }));
    const applied = await this.#query<{ id: string; number: number }>(finishStatement(rows));
    return new Set(applied.map((r) => `${r.id}#${r.number}`));
  }

  /** Makes the next held delivery of each ordering key due now (claim-sql.ts `wakeNextStatement`); returns their ids. */
  async wakeNext(keys: Array<{ subscriptionId: string; orderingKey: string }>): Promise<string[]> {
    if (keys.length === 0) return [];
    return (await this.#query<{ id: string }>(wakeNextStatement(keys))).map((r) => r.id);
  }

  /** Ends a claimed delivery whose last scheduled attempt was interrupted: the claim itself does not count. */
  async exhaust(claim: Claim): Promise<void> {
    await this.#db
      .update(webhookDeliveries)
      .set({ status: "failed", failureReason: "attempts_exhausted", attemptCount: claim.number - 1, inFlightUntil: null, nextAttemptAt: null, completedAt: new Date() })
      .where(and(eq(webhookDeliveries.id, claim.id), eq(webhookDeliveries.attemptCount, claim.number), eq(webhookDeliveries.status, "pending")));
  }

  /** Fails a delivery that is still pending (its subscription was deleted or disabled). */
  async failPending(id: string, reason: string): Promise<void> {
    await this.#db
      .update(webhookDeliveries)
      .set({ status: "failed", failureReason: reason, nextAttemptAt: null, inFlightUntil: null, completedAt: new Date() })
      .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.status, "pending")));
  }

  /** The state of a delivery and its subscription; undefined when it does not exist. */
  async state(id: string): Promise<DeliveryState | undefined> {
    const [row] = await this.#query<{
      status: string;
      test: boolean;
      next_attempt_at: Date | string | null;
      in_flight_until: Date | string | null;
      enabled: boolean;
      deleted_at: Date | string | null;
      held_in_vain: boolean;
    }>(sql`SELECT d.status, d.test, d.next_attempt_at, d.in_flight_until, s.enabled, s.deleted_at,
            (d.held_since IS NOT NULL AND d.attempt_count = 0 AND d.next_attempt_at > now() AND NOT EXISTS (
              SELECT 1 FROM webhook_deliveries e
              WHERE e.subscription_id = d.subscription_id AND e.ordering_key = d.ordering_key AND e.ordering_seq < d.ordering_seq
                AND e.status = 'pending' AND e.final_attempt IS NULL)) AS held_in_vain
          FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id WHERE d.id = ${id}`);
    if (!row) return undefined;
    return {
      status: row.status,
      test: row.test,
      nextAttemptAt: asDate(row.next_attempt_at),
      inFlightUntil: asDate(row.in_flight_until),
      enabled: row.enabled,
      deletedAt: asDate(row.deleted_at),
      heldInVain: row.held_in_vain,
    };
  }

  /**
   * Takes up to `limit` committed outbox rows that have no job yet (SKIP
   * LOCKED: each row goes to one instance) and marks them enqueued.
   */
  async takeOutbox(limit: number): Promise<DeliveryLabel[]> {
    const taken = await this.#query<{ id: string; tenant_id: string; subscription_id: string; event_type: string; url: string; trace_parent: string | null }>(takeOutboxStatement(limit));
    return taken.map(labelOf);
  }

  /** What the queue board shows of a delivery (the rare paths that enqueue by id: relay, redelivery). */
  async label(id: string): Promise<DeliveryLabel | undefined> {
    const [row] = await this.#query<{ id: string; tenant_id: string; subscription_id: string; event_type: string; url: string }>(
      sql`SELECT id, tenant_id, subscription_id, event_type, url FROM webhook_deliveries WHERE id = ${id}`,
    );
    return row && labelOf(row);
  }

  /** Pending deliveries overdue by more than `graceMs`, oldest due first. */
  async overdue(graceMs: number, limit: number): Promise<Array<{ id: string; enqueued: boolean }>> {
    const rows = await this.#query<{ id: string; enqueued: boolean }>(sql`SELECT id, enqueued_at IS NOT NULL AS enqueued
        FROM webhook_deliveries
        WHERE status = 'pending' AND next_attempt_at < now() - make_interval(secs => ${graceMs / 1000})
        ORDER BY next_attempt_at LIMIT ${limit}`);
    return rows;
  }

  /** Marks rows as having a job (the relay enqueued them). */
  async markEnqueued(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#db
      .update(webhookDeliveries)
      .set({ enqueuedAt: new Date() })
      .where(and(inArray(webhookDeliveries.id, ids), isNull(webhookDeliveries.enqueuedAt)));
  }

  /**
   * Reopens an ended delivery of the tenant for one more attempt, numbered
   * after the others, due now, in the caller's transaction. Refused while it
   * is pending or its subscription is deleted or disabled.
   */
  async reopen(tx: Db, tenantId: string, deliveryId: string): Promise<void> {
    const [row] = await tx
      .select({ status: webhookDeliveries.status, enabled: webhookSubscriptions.enabled, deletedAt: webhookSubscriptions.deletedAt })
      .from(webhookDeliveries)
      .innerJoin(webhookSubscriptions, eq(webhookSubscriptions.id, webhookDeliveries.subscriptionId))
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.tenantId, tenantId)))
      .for("update", { of: webhookDeliveries });
    if (!row) throw notFound("delivery");
    if (row.status === "pending") throw new AppError("failed_precondition", "the delivery is pending: wait for its attempt to end", { reason: "DELIVERY_PENDING" });
    if (row.deletedAt) throw new AppError("failed_precondition", "the delivery's subscription is deleted", { reason: "SUBSCRIPTION_DELETED" });
    if (!row.enabled) throw new AppError("failed_precondition", "the delivery's subscription is disabled", { reason: "SUBSCRIPTION_DISABLED" });
    const now = new Date();
    await tx
      .update(webhookDeliveries)
      .set({
        status: "pending",
        failureReason: null,
        finalAttempt: sql`${webhookDeliveries.attemptCount} + 1`,
        nextAttemptAt: now,
        completedAt: null,
        enqueuedAt: now,
      })
      .where(eq(webhookDeliveries.id, deliveryId));
  }
}

/** Marks a subscription's pending deliveries failed, in the caller's transaction (an attempt in flight still records its result). */
export async function failSubscriptionDeliveries(tx: Db, subscriptionId: string, reason: string): Promise<void> {
  await tx
    .update(webhookDeliveries)
    .set({ status: "failed", failureReason: reason, nextAttemptAt: null, completedAt: new Date() })
    .where(and(eq(webhookDeliveries.subscriptionId, subscriptionId), eq(webhookDeliveries.status, "pending")));
}

/**
 * Makes a subscription's held deliveries (ordered delivery) due now, in the caller's transaction:
 * ordering turned off or its bound changed. Returns their ids, whose jobs are to run now (the
 * relay's, should that fail); each claim then decides again (held anew, with the new bound,
 * while an earlier one is still pending and ordering is on).
 */
export async function releaseHeldDeliveries(tx: Db, subscriptionId: string, unordered: boolean): Promise<string[]> {
  // Ordering off: its pending deliveries are unordered from now on (their views and attempts say so).
  if (unordered) await tx.execute(sql`UPDATE webhook_deliveries SET ordering_key = NULL WHERE subscription_id = ${subscriptionId} AND status = 'pending' AND ordering_key IS NOT NULL`);
  const rows = (await tx.execute<{ id: string }>(sql`UPDATE webhook_deliveries SET next_attempt_at = now()
    WHERE subscription_id = ${subscriptionId} AND status = 'pending' AND held_since IS NOT NULL AND attempt_count = 0 AND next_attempt_at > now()
    RETURNING id`)) as unknown as Array<{ id: string }>;
  return rows.map((r) => r.id);
}
