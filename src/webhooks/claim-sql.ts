import { sql, type SQL } from "drizzle-orm";

/** Interrupted attempts beyond this many use up the schedule like failed ones (no endless loop). */
export const MAX_FREE_INTERRUPTS = 3;
/** A delivery job is early by more than this: it waits (clocks of two hosts may differ a little). */
const EARLY_SLACK_MS = 1_000;

/** A row of the claim statement, as the driver gives it. */
export interface ClaimRow extends Record<string, unknown> {
  id: string;
  tenant_id: string;
  subscription_id: string;
  event_type: string;
  url: string;
  body: string;
  attempt_count: number;
  extra_attempts: number;
  final_attempt: number | null;
  started_at: Date | string;
  secret_enc: Uint8Array | null;
  previous_secret_enc: Uint8Array | null;
  previous_secret_expires_at: Date | string | null;
  ordering_key: string | null;
  released_after_bound_at: Date | string | null;
}

/**
 * One statement for a batch of deliveries: lock each row, check it is due
 * and not in flight, take the next attempt number and the lease, and record
 * an interrupted predecessor. Rows locked by another statement are skipped,
 * not waited for (their jobs look again a moment later).
 *
 * Ordered delivery (ordering.ts): a delivery of an ordered subscription
 * whose key has an earlier delivery pending (in flight or waiting to retry)
 * is not claimed but held: `held_since` is set on the first hold and its
 * next attempt moves to the end of the bound, so that neither its job nor
 * the relay looks at it before (the end of the earlier one wakes it:
 * `wakeNext`). Held past the bound, it is claimed all the same and marked
 * `released_after_bound_at`. Redeliveries (final_attempt set) and deliveries
 * released once are outside the order: they neither wait nor hold others.
 */
export function claimStatement(ids: string[], leaseMs: number): SQL {
  // Each id is looked up by its primary key, one by one (LATERAL): a plan that joins the
  // subscription first scanned every pending delivery of it per batch whenever the statistics
  // were thin (a young or fast-growing table), 5 ms for 10 rows at a backlog of 5,000. One
  // parameter (a JSON array) whatever the batch size: one prepared statement, planned once.
  return sql`WITH cur AS (
      SELECT d.* FROM jsonb_array_elements_text(${JSON.stringify([...ids].sort())}::text::jsonb) AS i(id) CROSS JOIN LATERAL (
        SELECT d.id, d.in_flight_until AS lease, d.attempt_count AS previous_number, d.last_attempt_at AS previous_start,
          d.subscription_id, d.ordering_key, d.ordering_seq, d.held_since, s.ordering_bound_seconds AS bound,
          (s.ordered AND d.ordering_key IS NOT NULL AND d.final_attempt IS NULL AND d.released_after_bound_at IS NULL) AS in_order
        FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
        WHERE d.id = i.id AND d.status = 'pending'
          AND (d.in_flight_until IS NULL OR d.in_flight_until < now())
          AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now() + make_interval(secs => ${EARLY_SLACK_MS / 1000}))
          AND s.deleted_at IS NULL AND (s.enabled OR d.test)
        FOR UPDATE OF d SKIP LOCKED
      ) d
    ), waiting AS (
      -- Ordered deliveries with an earlier delivery of their key pending; hold: still within the bound.
      SELECT c.id, coalesce(c.held_since, now()) AS since, c.bound,
        coalesce(c.held_since, now()) + make_interval(secs => c.bound) > now() AS hold
      FROM cur c
      WHERE c.in_order AND EXISTS (
        SELECT 1 FROM webhook_deliveries e
        WHERE e.subscription_id = c.subscription_id AND e.ordering_key = c.ordering_key AND e.ordering_seq < c.ordering_seq
          AND e.status = 'pending' AND e.final_attempt IS NULL)
    ), held AS (
      UPDATE webhook_deliveries d SET held_since = w.since, next_attempt_at = w.since + make_interval(secs => w.bound)
      FROM waiting w WHERE d.id = w.id AND w.hold
    ), claimed AS (
      -- Only columns outside every index change here, so the update can stay on its page (HOT).
      UPDATE webhook_deliveries d SET
        attempt_count = d.attempt_count + 1,
        extra_attempts = d.extra_attempts + (CASE WHEN cur.lease IS NOT NULL AND d.extra_attempts < ${MAX_FREE_INTERRUPTS} THEN 1 ELSE 0 END),
        final_attempt = d.final_attempt + (CASE WHEN cur.lease IS NOT NULL AND d.extra_attempts < ${MAX_FREE_INTERRUPTS} THEN 1 ELSE 0 END),
        in_flight_until = now() + make_interval(secs => ${leaseMs / 1000}),
        last_attempt_at = now(),
        released_after_bound_at = CASE WHEN w.id IS NOT NULL THEN now() ELSE d.released_after_bound_at END
      FROM cur LEFT JOIN waiting w ON w.id = cur.id
      WHERE d.id = cur.id AND NOT coalesce(w.hold, false)
      RETURNING d.id, d.tenant_id, d.subscription_id, d.event_type, d.url, d.body, d.attempt_count,
        d.extra_attempts, d.final_attempt, d.last_attempt_at AS started_at, d.ordering_key, d.released_after_bound_at
    ), interrupted AS (
      -- The previous attempt's worker let its lease run out: that attempt is recorded as interrupted.
      INSERT INTO webhook_attempts (delivery_id, number, started_at, finished_at, error_kind)
      SELECT cur.id, cur.previous_number, coalesce(cur.previous_start, now()), now(), 'interrupted'
      FROM cur JOIN claimed c ON c.id = cur.id WHERE cur.lease IS NOT NULL AND cur.previous_number > 0
      ON CONFLICT (delivery_id, number) DO NOTHING
    )
    SELECT c.id, c.tenant_id, c.subscription_id, c.event_type, c.url, c.body, c.attempt_count, c.extra_attempts,
      c.final_attempt, c.started_at, s.secret_enc, s.previous_secret_enc, s.previous_secret_expires_at,
      -- Ordering turned off since the row was written: the attempt is unordered.
      CASE WHEN s.ordered THEN c.ordering_key END AS ordering_key, c.released_after_bound_at
    FROM claimed c JOIN webhook_subscriptions s ON s.id = c.subscription_id`;
}

/**
 * The outbox poller's statement: up to `limit` committed pending rows that
 * have no job yet, oldest id first, marked as enqueued (SKIP LOCKED: each
 * row goes to one instance). Its WHERE is exactly the predicate of the
 * partial index `webhook_deliveries_unenqueued`, so the plan reads that
 * index alone, in order, and stops at the limit.
 */
export function takeOutboxStatement(limit: number): SQL {
  return sql`WITH picked AS (
      SELECT id FROM webhook_deliveries WHERE enqueued_at IS NULL AND status = 'pending'
      ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    UPDATE webhook_deliveries d SET enqueued_at = now() FROM picked WHERE d.id = picked.id
    RETURNING d.id, d.tenant_id, d.subscription_id, d.event_type, d.url, d.trace_parent`;
}

/** An attempt's end as the finish statement reads it (JSON, snake_case). */
export interface FinishRow {
  id: string;
  subscription_id: string;
  number: number;
  started_at: string;
  finished_at: string;
  latency_ms: number;
  status_code: number | null;
  error_kind: string;
  excerpt: string;
  status: string;
  reason: string | null;
  next_at: string | null;
}

/**
 * One statement for a batch of ended attempts: each attempt row written
 * (replacing an "interrupted" placeholder not yet committed to the
 * deliveries Proofstream) and each delivery moved on, unless it moved on
 * without it (its lease ran out and another worker took over). 410 Gone
 * disables the subscription and stops its other pending deliveries in the
 * same commit. Returns (id, number) of the deliveries that moved on.
 */
export function finishStatement(rows: FinishRow[]): SQL {
  const sorted = [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.number - b.number));
  return sql`WITH v AS (
        SELECT * FROM jsonb_to_recordset(${JSON.stringify(sorted)}::text::jsonb) AS v(id text, subscription_id text, number int,
          started_at timestamptz, finished_at timestamptz, latency_ms int, status_code int, error_kind text, excerpt text, status text, reason text,
          next_at timestamptz)
      ), cur AS (
        -- Each row by its primary key (LATERAL), locked and checked before the update: a join
        -- planned on thin statistics scanned every pending delivery per batch (9 ms for 10 rows at a
        -- backlog of 5,000). Locked in id order, so that two finishes never wait for each other in turn.
        SELECT v.id, v.number, v.status, v.reason, v.next_at FROM v CROSS JOIN LATERAL (
          SELECT 1 FROM webhook_deliveries d
          WHERE d.id = v.id AND d.attempt_count = v.number AND d.status = 'pending' AND d.in_flight_until IS NOT NULL
          FOR UPDATE OF d) l
      ), gone AS (
        UPDATE webhook_subscriptions s SET enabled = false, disabled_reason = 'gone', updated_at = now()
        FROM (SELECT DISTINCT subscription_id FROM v WHERE reason = 'gone') g
        WHERE s.id = g.subscription_id AND s.enabled
        RETURNING s.id
      ), stopped AS (
        UPDATE webhook_deliveries o SET status = 'failed', failure_reason = 'subscription_disabled', next_attempt_at = NULL,
          completed_at = now()
        FROM gone WHERE o.subscription_id = gone.id AND o.status = 'pending' AND o.id NOT IN (SELECT id FROM v)
      ), a AS (
        INSERT INTO webhook_attempts (delivery_id, number, started_at, finished_at, latency_ms, status_code, error_kind, response_excerpt)
        SELECT id, number, started_at, finished_at, latency_ms, status_code, error_kind, excerpt FROM v
        ON CONFLICT (delivery_id, number) DO UPDATE SET finished_at = excluded.finished_at, latency_ms = excluded.latency_ms,
          status_code = excluded.status_code, error_kind = excluded.error_kind, response_excerpt = excluded.response_excerpt
          -- A placeholder already committed to the deliveries Proofstream stays as committed.
          WHERE webhook_attempts.error_kind = 'interrupted' AND webhook_attempts.seq_no IS NULL
      )
      UPDATE webhook_deliveries d SET status = v.status, failure_reason = v.reason, next_attempt_at = v.next_at,
        in_flight_until = NULL, completed_at = CASE WHEN v.status = 'pending' THEN NULL ELSE now() END
      FROM cur v
      WHERE d.id = v.id
      RETURNING d.id, v.number`;
}

/**
 * After deliveries of ordered subscriptions ended (succeeded or failed), the
 * next pending delivery of each of their keys is due now if it was held
 * (never attempted: a held delivery always is), so that its job, promoted
 * by the caller, claims it. A separate statement after the finish commits,
 * so that it never waits for a claim that waits for it. Returns the ids.
 */
export function wakeNextStatement(keys: Array<{ subscriptionId: string; orderingKey: string }>): SQL {
  const json = JSON.stringify(keys.map((k) => ({ subscription_id: k.subscriptionId, ordering_key: k.orderingKey })));
  return sql`WITH k AS (
      SELECT DISTINCT * FROM jsonb_to_recordset(${json}::text::jsonb) AS k(subscription_id text, ordering_key text)
    ), first AS (
      SELECT f.id FROM k CROSS JOIN LATERAL (
        SELECT p.id FROM webhook_deliveries p
        WHERE p.subscription_id = k.subscription_id AND p.ordering_key = k.ordering_key AND p.status = 'pending' AND p.final_attempt IS NULL
        ORDER BY p.ordering_seq LIMIT 1) f
    )
    -- Held or not (a claim holding it may commit after this statement read it), it is due: the claim decides again.
    UPDATE webhook_deliveries w SET next_attempt_at = now()
    FROM first WHERE w.id = first.id AND w.status = 'pending' AND w.attempt_count = 0 AND w.in_flight_until IS NULL
    RETURNING w.id`;
}
