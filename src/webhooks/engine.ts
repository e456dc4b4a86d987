import { DelayedError, UnrecoverableError, type Job, type JobsOptions, type Queue } from "bullmq";
import { and, eq, inArray, isNull, sql, type SQL } from "drizzle-orm";
import type { Config } from "../config.js";
import type { Keyring } from "../crypto/keyring.js";
import type { Database, Db } from "../db/db.js";
import { AppError, notFound } from "../errors.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import { OutboundHttp, type OutboundPolicy, type OutboundResult } from "../net/outbound.js";
import { getDelivery, type Delivery } from "./deliveries.js";
import { sampleEventData, type WebhookEventType } from "./events.js";
import { insertDeliveries, OUTBOX_CHANNEL } from "./outbox.js";
import { webhookDeliveries, webhookSubscriptions, type AttemptErrorKind } from "./schema.js";
import { deliveryHeaders } from "./signing.js";
import { failPendingDeliveries, getSubscription, openSecrets } from "./subscriptions.js";

export const DELIVERY_QUEUE = "webhook-deliveries";
export const RELAY_JOB = "webhook-outbox-relay";

/** Interrupted attempts beyond this many use up the schedule like failed ones (no endless loop). */
const MAX_FREE_INTERRUPTS = 3;
/** A delivery job is early by more than this: it waits (clocks of two hosts may differ a little). */
const EARLY_SLACK_MS = 1_000;
/** Rows the relay looks at per run. */
const RELAY_BATCH = 1_000;

const DELIVERY_ID = /^dlv_[0-9A-HJKMNP-TV-Z]{26}$/;

const JOB_OPTIONS: JobsOptions = {
  // The job of a delivery that ended stays a while for the board, then goes.
  removeOnComplete: { count: 1_000 },
  removeOnFail: { count: 5_000 },
  // Only for errors of our own (database down): the schedule itself is driven by the delivery row.
  attempts: 3,
  backoff: { type: "exponential", delay: 1_000 },
};

export interface WebhookSettings {
  policy: OutboundPolicy;
  /** Delay before each attempt, ms; its length is the number of attempts. */
  retrySchedule: number[];
  timeoutMs: number;
  retryAfterMaxMs: number;
  concurrency: number;
  secretOverlapMs: number;
  relayIntervalMs: number;
  relayGraceMs: number;
  jobLockMs: number;
}

export function webhookSettings(config: Config): WebhookSettings {
  return {
    policy: { allowLoopback: config.webhookAllowLoopback },
    retrySchedule: config.webhookRetrySchedule,
    timeoutMs: config.webhookTimeoutMs,
    retryAfterMaxMs: config.webhookRetryAfterMaxMs,
    concurrency: config.webhookConcurrency,
    secretOverlapMs: config.webhookSecretOverlapMs,
    relayIntervalMs: config.webhookRelayIntervalMs,
    relayGraceMs: config.webhookRelayGraceMs,
    jobLockMs: config.webhookJobLockMs,
  };
}

export type AttemptOutcome =
  /** Succeeded, or nothing to do (not pending, or another worker has the attempt). */
  | { kind: "done" }
  | { kind: "failed"; reason: string }
  /** The next attempt is due then. */
  | { kind: "later"; at: Date };

interface Claim {
  id: string;
  tenant_id: string;
  subscription_id: string;
  event_type: string;
  url: string;
  body: string;
  attempt_count: number;
  extra_attempts: number;
  final_attempt: number | null;
  secret_enc: Uint8Array | null;
  previous_secret_enc: Uint8Array | null;
  previous_secret_expires_at: Date | string | null;
}

/** Rows of a raw statement, for both drivers (postgres.js: an array; PGlite: { rows }). */
async function rowsOf<T>(db: Db, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown;
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

const asDate = (v: Date | string | null): Date | null => (v === null ? null : v instanceof Date ? v : new Date(v));
const asBuffer = (v: Uint8Array | null): Buffer | null => (v === null ? null : Buffer.from(v));

/**
 * The delivery engine. Each delivery row is the truth; a BullMQ job (jobId =
 * delivery id) runs its next attempt. An attempt is claimed in Postgres
 * first — one statement locks the row, checks it is due and not in flight,
 * bumps the attempt number, takes a lease and inserts the attempt row (whose
 * primary key is (delivery, number)) — so with any number of workers each
 * attempt is made once. A worker that dies mid-attempt leaves a lease that
 * expires: the next claim records that attempt as interrupted and makes a
 * new one. New rows are announced with NOTIFY and enqueued after their
 * commit; the relay, a periodic job, re-enqueues rows whose job Redis lost.
 */
export class WebhookEngine {
  readonly queue: Queue;
  readonly http: OutboundHttp;
  readonly #db: Db;
  readonly #leaseMs: number;
  readonly #announced = new Set<string>();
  #flushing: Promise<void> | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #closed = false;

  constructor(
    private readonly deps: { database: Database; keyring: Keyring; jobs: JobRuntime; logger: Logger; settings: WebhookSettings },
  ) {
    this.#db = deps.database.db;
    this.queue = deps.jobs.queue(DELIVERY_QUEUE);
    this.http = new OutboundHttp(deps.settings.policy, { connectTimeoutMs: deps.settings.timeoutMs });
    // Long enough for the request and the bookkeeping around it.
    this.#leaseMs = 2 * deps.settings.timeoutMs + 5_000;
  }

  get settings(): WebhookSettings {
    return this.deps.settings;
  }

  /** Listens for new deliveries, works the queue (worker roles) and schedules the relay. */
  async start(): Promise<void> {
    const { settings, jobs, logger } = this.deps;
    if (settings.policy.allowLoopback) {
      logger.warn("ATTESTO_WEBHOOK_ALLOW_LOOPBACK is on: webhooks may go to loopback addresses, over plain http too. For development and tests only.");
    }
    this.#unlisten = await this.deps.database.listen(OUTBOX_CHANNEL, (payload) => this.#onAnnounced(payload));
    jobs.process<{ deliveryId: string }>(DELIVERY_QUEUE, (job, token) => this.#process(job, token), settings.concurrency, {
      lockDuration: settings.jobLockMs,
      stalledInterval: settings.jobLockMs,
    });
    await jobs.every(RELAY_JOB, settings.relayIntervalMs, () => this.relay());
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#unlisten?.().catch(() => {});
    await this.#flushing;
    await this.http.close();
  }

  /** Puts jobs on the queue for these deliveries; one already there is left as it is. */
  async enqueue(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.queue.addBulk(ids.map((id) => ({ name: "deliver", data: { deliveryId: id }, opts: { ...JOB_OPTIONS, jobId: id } })));
  }

  /**
   * Makes sure a pending delivery has a live job: none (Redis lost it), or
   * one that already ended, gets a new one. True when one was added.
   */
  async ensureJob(id: string): Promise<boolean> {
    const state = await this.queue.getJobState(id);
    if (state !== "unknown" && state !== "completed" && state !== "failed") return false;
    if (state !== "unknown") await this.queue.remove(id).catch(() => 0);
    await this.enqueue([id]);
    return true;
  }

  // ---- tenant tools ----------------------------------------------------------

  /** A new attempt now, numbered after the others, same id and body; the delivery is pending until it ends. */
  async redeliver(tenantId: string, deliveryId: string): Promise<Delivery> {
    await this.#db.transaction(async (tx) => {
      const [row] = await tx
        .select({ status: webhookDeliveries.status, enabled: webhookSubscriptions.enabled, deletedAt: webhookSubscriptions.deletedAt })
        .from(webhookDeliveries)
        .innerJoin(webhookSubscriptions, eq(webhookSubscriptions.id, webhookDeliveries.subscriptionId))
        .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.tenantId, tenantId)))
        .for("update", { of: webhookDeliveries });
      if (!row) throw notFound("delivery");
      if (row.status === "pending") throw new AppError("failed_precondition", "the delivery is pending: wait for its attempt to end");
      if (row.deletedAt) throw new AppError("failed_precondition", "the delivery's subscription is deleted");
      if (!row.enabled) throw new AppError("failed_precondition", "the delivery's subscription is disabled");
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
    });
    await this.ensureJob(deliveryId);
    return getDelivery(this.#db, tenantId, deliveryId);
  }

  /** A delivery of the type's sample event to one subscription, whatever its event types, even disabled. */
  async sendTestEvent(tenantId: string, subscriptionId: string, eventType: WebhookEventType): Promise<Delivery> {
    const subscription = await getSubscription(this.#db, tenantId, subscriptionId);
    const [id] = await insertDeliveries(this.#db, [
      { tenantId, subscriptionId, url: subscription.url, eventType, data: sampleEventData(eventType) as unknown as Record<string, unknown>, test: true },
    ]);
    return getDelivery(this.#db, tenantId, id!);
  }

  // ---- attempts --------------------------------------------------------------

  async #process(job: Job<{ deliveryId: string }>, token?: string): Promise<string> {
    const outcome = await this.attempt(job.data.deliveryId);
    if (outcome.kind === "failed") throw new UnrecoverableError(`delivery failed: ${outcome.reason}`);
    if (outcome.kind === "later") {
      await job.moveToDelayed(outcome.at.getTime(), token);
      throw new DelayedError();
    }
    return "done";
  }

  /**
   * Makes the delivery's next attempt if it is due and nobody else is
   * making it, records it, and says what comes next.
   */
  async attempt(deliveryId: string): Promise<AttemptOutcome> {
    const { settings, logger } = this.deps;
    const claim = await this.#claim(deliveryId);
    if (!claim) return this.#notClaimed(deliveryId);

    const number = claim.attempt_count;
    const secrets = openSecrets(this.deps.keyring, claim.tenant_id, {
      secretEnc: asBuffer(claim.secret_enc),
      previousSecretEnc: asBuffer(claim.previous_secret_enc),
      previousSecretExpiresAt: asDate(claim.previous_secret_expires_at),
    });
    const headers = deliveryHeaders({
      id: claim.id,
      eventType: claim.event_type,
      body: claim.body,
      attempt: number,
      timestamp: Math.floor(Date.now() / 1000),
      ...secrets,
    });
    const result = await this.http.post(claim.url, headers, claim.body, settings.timeoutMs);

    const decision = this.#decide(claim, result);
    const finished = await rowsOf<{ id: string }>(
      this.#db,
      sql`WITH a AS (
            UPDATE webhook_attempts SET finished_at = now(), latency_ms = ${result.latencyMs},
              status_code = ${result.ok ? result.statusCode : null}, error_kind = ${decision.errorKind},
              response_excerpt = ${result.ok ? result.excerpt : ""}
            WHERE delivery_id = ${claim.id} AND number = ${number} AND finished_at IS NULL
            RETURNING delivery_id)
          UPDATE webhook_deliveries d SET status = ${decision.status}, failure_reason = ${decision.reason},
            next_attempt_at = ${decision.nextAt?.toISOString() ?? null}::timestamptz, in_flight_until = NULL,
            completed_at = ${decision.status === "pending" ? null : new Date().toISOString()}::timestamptz
          FROM a WHERE d.id = a.delivery_id AND d.attempt_count = ${number} AND d.status = 'pending'
          RETURNING d.id`,
    );
    const log = {
      deliveryId: claim.id,
      subscriptionId: claim.subscription_id,
      attempt: number,
      statusCode: result.ok ? result.statusCode : undefined,
      errorKind: decision.errorKind,
      latencyMs: result.latencyMs,
    };
    if (finished.length === 0) {
      // The lease ran out and another worker took over, or the delivery was stopped meanwhile.
      logger.warn(log, "webhook attempt ended after its delivery moved on");
      return { kind: "done" };
    }
    if (decision.gone) await this.#disableGone(claim.subscription_id);
    if (decision.status === "succeeded") {
      logger.debug(log, "webhook delivered");
      return { kind: "done" };
    }
    logger.info({ ...log, next: decision.nextAt?.toISOString() ?? null }, "webhook attempt failed");
    return decision.status === "failed" ? { kind: "failed", reason: decision.reason! } : { kind: "later", at: decision.nextAt! };
  }

  #decide(claim: Claim, result: OutboundResult) {
    const { settings } = this.deps;
    const number = claim.attempt_count;
    const statusCode = result.ok ? result.statusCode : 0;
    const errorKind: AttemptErrorKind = !result.ok ? result.errorKind : statusCode >= 200 && statusCode < 300 ? "none" : "http_status";
    if (errorKind === "none") return { errorKind, status: "succeeded" as const, reason: null, nextAt: null, gone: false };
    if (statusCode === 410) return { errorKind, status: "failed" as const, reason: "gone", nextAt: null, gone: true };
    const schedule = settings.retrySchedule;
    const last = claim.final_attempt ?? schedule.length + claim.extra_attempts;
    if (number >= last) return { errorKind, status: "failed" as const, reason: "attempts_exhausted", nextAt: null, gone: false };
    // The next attempt's place in the schedule: interrupted attempts do not count.
    const step = Math.min(Math.max(number - claim.extra_attempts, 0), schedule.length - 1);
    let delay = schedule[step] ?? 0;
    if (result.ok && (statusCode === 429 || statusCode === 503)) {
      const retryAfter = parseRetryAfter(result.headers["retry-after"]);
      if (retryAfter !== undefined) delay = Math.max(delay, Math.min(retryAfter, settings.retryAfterMaxMs));
    }
    return { errorKind, status: "pending" as const, reason: null, nextAt: new Date(Date.now() + delay), gone: false };
  }

  /** One statement: lock, check, bump the attempt number, take the lease, insert the attempt row. */
  async #claim(id: string): Promise<Claim | undefined> {
    const [claim] = await rowsOf<Claim>(
      this.#db,
      sql`WITH cur AS (
            SELECT d.id, d.in_flight_until AS lease
            FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
            WHERE d.id = ${id} AND d.status = 'pending'
              AND (d.in_flight_until IS NULL OR d.in_flight_until < now())
              AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now() + make_interval(secs => ${EARLY_SLACK_MS / 1000}))
              AND s.deleted_at IS NULL AND (s.enabled OR d.test)
            FOR UPDATE OF d
          ), claimed AS (
            UPDATE webhook_deliveries d SET
              attempt_count = d.attempt_count + 1,
              extra_attempts = d.extra_attempts + (CASE WHEN cur.lease IS NOT NULL AND d.extra_attempts < ${MAX_FREE_INTERRUPTS} THEN 1 ELSE 0 END),
              final_attempt = d.final_attempt + (CASE WHEN cur.lease IS NOT NULL AND d.extra_attempts < ${MAX_FREE_INTERRUPTS} THEN 1 ELSE 0 END),
              in_flight_until = now() + make_interval(secs => ${this.#leaseMs / 1000}),
              next_attempt_at = NULL,
              last_attempt_at = now()
            FROM cur WHERE d.id = cur.id
            RETURNING d.id, d.tenant_id, d.subscription_id, d.event_type, d.url, d.body, d.attempt_count,
              d.extra_attempts, d.final_attempt, cur.lease
          ), interrupted AS (
            UPDATE webhook_attempts a SET finished_at = now(), error_kind = 'interrupted'
            FROM claimed c
            WHERE c.lease IS NOT NULL AND a.delivery_id = c.id AND a.number = c.attempt_count - 1 AND a.finished_at IS NULL
          ), attempt AS (
            INSERT INTO webhook_attempts (delivery_id, number, started_at) SELECT id, attempt_count, now() FROM claimed
          )
          SELECT c.id, c.tenant_id, c.subscription_id, c.event_type, c.url, c.body, c.attempt_count, c.extra_attempts,
            c.final_attempt, s.secret_enc, s.previous_secret_enc, s.previous_secret_expires_at
          FROM claimed c JOIN webhook_subscriptions s ON s.id = c.subscription_id`,
    );
    return claim;
  }

  /** Why no attempt could be claimed, and what the job should do. */
  async #notClaimed(id: string): Promise<AttemptOutcome> {
    const [row] = await rowsOf<{
      status: string;
      test: boolean;
      next_attempt_at: Date | string | null;
      in_flight_until: Date | string | null;
      enabled: boolean;
      deleted_at: Date | string | null;
    }>(
      this.#db,
      sql`SELECT d.status, d.test, d.next_attempt_at, d.in_flight_until, s.enabled, s.deleted_at
          FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id WHERE d.id = ${id}`,
    );
    if (!row || row.status !== "pending") return { kind: "done" };
    const leaseUntil = asDate(row.in_flight_until);
    const now = Date.now();
    if (row.deleted_at || (!row.enabled && !row.test)) {
      if (leaseUntil && leaseUntil.getTime() > now) return { kind: "later", at: leaseUntil };
      const reason = row.deleted_at ? "subscription_deleted" : "subscription_disabled";
      await this.#db
        .update(webhookDeliveries)
        .set({ status: "failed", failureReason: reason, nextAttemptAt: null, inFlightUntil: null, completedAt: new Date() })
        .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.status, "pending")));
      return { kind: "failed", reason };
    }
    if (leaseUntil && leaseUntil.getTime() > now) {
      // In flight elsewhere: look again soon (that attempt may end well before its lease does).
      return { kind: "later", at: new Date(Math.min(leaseUntil.getTime(), now + 1_000)) };
    }
    const next = asDate(row.next_attempt_at);
    // Not due yet: come back then (a moment later when the row changed meanwhile).
    return { kind: "later", at: new Date(Math.max(now + 100, next?.getTime() ?? 0)) };
  }

  /** 410 Gone: the subscription is disabled and its other pending deliveries stop. */
  async #disableGone(subscriptionId: string): Promise<void> {
    await this.#db.transaction(async (tx) => {
      const [row] = await tx
        .update(webhookSubscriptions)
        .set({ enabled: false, disabledReason: "gone", updatedAt: new Date() })
        .where(and(eq(webhookSubscriptions.id, subscriptionId), eq(webhookSubscriptions.enabled, true)))
        .returning({ id: webhookSubscriptions.id });
      if (row) await failPendingDeliveries(tx, subscriptionId, "subscription_disabled");
    });
    this.deps.logger.warn({ subscriptionId }, "webhook endpoint answered 410 Gone: subscription disabled");
  }

  // ---- enqueueing after commit, and the relay -------------------------------

  #onAnnounced(payload: string): void {
    for (const id of payload.split(",")) if (DELIVERY_ID.test(id)) this.#announced.add(id);
    this.#flushing ??= this.#flush();
  }

  /** Takes announced rows (one instance wins each) and puts their jobs on the queue. */
  async #flush(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (this.#announced.size > 0 && !this.#closed) {
        const ids = [...this.#announced].slice(0, 1_000);
        for (const id of ids) this.#announced.delete(id);
        try {
          const taken = await this.#db
            .update(webhookDeliveries)
            .set({ enqueuedAt: new Date() })
            .where(and(inArray(webhookDeliveries.id, ids), isNull(webhookDeliveries.enqueuedAt), eq(webhookDeliveries.status, "pending")))
            .returning({ id: webhookDeliveries.id });
          await this.enqueue(taken.map((r) => r.id));
        } catch (err) {
          // The relay finds these rows later.
          this.deps.logger.warn({ err: (err as Error).message, count: ids.length }, "could not enqueue new webhook deliveries");
        }
      }
    } finally {
      this.#flushing = undefined;
      if (this.#announced.size > 0 && !this.#closed) this.#flushing = this.#flush();
    }
  }

  /**
   * The outbox relay: pending deliveries overdue by more than the grace
   * period whose job is missing from Redis (never enqueued, or lost with a
   * Redis restart) get a job again. Returns how many.
   */
  async relay(): Promise<number> {
    const { settings, logger } = this.deps;
    const due = await rowsOf<{ id: string; enqueued_at: Date | string | null }>(
      this.#db,
      sql`SELECT id, enqueued_at FROM webhook_deliveries
          WHERE status = 'pending' AND coalesce(in_flight_until, next_attempt_at) < now() - make_interval(secs => ${settings.relayGraceMs / 1000})
          ORDER BY coalesce(in_flight_until, next_attempt_at) LIMIT ${RELAY_BATCH}`,
    );
    let requeued = 0;
    for (let i = 0; i < due.length; i += 50) {
      const added = await Promise.all(due.slice(i, i + 50).map((r) => this.ensureJob(r.id)));
      requeued += added.filter(Boolean).length;
    }
    const unmarked = due.filter((r) => r.enqueued_at === null).map((r) => r.id);
    if (unmarked.length > 0) {
      await this.#db.update(webhookDeliveries).set({ enqueuedAt: new Date() }).where(and(inArray(webhookDeliveries.id, unmarked), isNull(webhookDeliveries.enqueuedAt)));
    }
    if (requeued > 0) logger.info({ requeued }, "outbox relay: re-enqueued webhook deliveries whose job was missing");
    return requeued;
  }
}

/** Retry-After as ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
