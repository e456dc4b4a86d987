import { DelayedError, UnrecoverableError, type Job, type JobsOptions, type Queue, type Worker } from "bullmq";
import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import type { Config } from "../config.js";
import type { Keyring } from "../crypto/keyring.js";
import type { Database, Db } from "../db/db.js";
import { AppError, notFound } from "../errors.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import { OutboundHttp, type OutboundPolicy, type OutboundResult } from "../net/outbound.js";
import { getDelivery, type Delivery } from "./deliveries.js";
import { sampleEventData, type WebhookEventType } from "./events.js";
import { insertDeliveries, outboxWrites } from "./outbox.js";
import { webhookDeliveries, webhookSubscriptions, type AttemptErrorKind } from "./schema.js";
import { deliveryHeaders } from "./signing.js";
import { getSubscription, openSecrets } from "./subscriptions.js";

export const DELIVERY_QUEUE = "webhook-deliveries";
export const RELAY_JOB = "webhook-outbox-relay";

/** Interrupted attempts beyond this many use up the schedule like failed ones (no endless loop). */
const MAX_FREE_INTERRUPTS = 3;
/** A delivery job is early by more than this: it waits (clocks of two hosts may differ a little). */
const EARLY_SLACK_MS = 1_000;
/** Rows the relay looks at per run. */
const RELAY_BATCH = 1_000;
/** Outbox rows taken per poll statement. */
const POLL_BATCH = 1_000;

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
  /** How often each instance looks for new outbox rows written by other processes. */
  outboxPollMs: number;
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
    outboxPollMs: config.webhookOutboxPollMs,
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
  started_at: Date | string;
  secret_enc: Uint8Array | null;
  previous_secret_enc: Uint8Array | null;
  previous_secret_expires_at: Date | string | null;
}

/**
 * Gathers the calls made within a moment (up to `max`) and runs them as one
 * statement: with many attempts in flight, claims and results reach Postgres
 * in batches instead of one statement (and one commit) each. A key asked for
 * twice in one batch gets undefined the second time.
 */
class Batcher<I, R> {
  #waiting = new Map<string, { input: I; resolve: (r: R | undefined) => void; reject: (e: unknown) => void }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly run: (inputs: Array<[string, I]>) => Promise<Map<string, R>>,
    private readonly max = 100,
    private readonly windowMs = 5,
  ) {}

  get(key: string, input: I): Promise<R | undefined> {
    if (this.#waiting.has(key)) return Promise.resolve(undefined);
    const result = new Promise<R | undefined>((resolve, reject) => this.#waiting.set(key, { input, resolve, reject }));
    if (this.#waiting.size >= this.max) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.windowMs);
    return result;
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#waiting;
    this.#waiting = new Map();
    if (batch.size === 0) return;
    this.run([...batch].map(([key, w]) => [key, w.input])).then(
      (results) => batch.forEach((w, key) => w.resolve(results.get(key))),
      (err: unknown) => batch.forEach((w) => w.reject(err)),
    );
  }
}

interface Finish {
  id: string;
  subscription_id: string;
  number: number;
  started_at: string;
  latency_ms: number;
  status_code: number | null;
  error_kind: AttemptErrorKind;
  excerpt: string;
  status: "pending" | "succeeded" | "failed";
  reason: string | null;
  next_at: string | null;
}

/** What an attempt came to: the outbound result, or a failure of our own before anything was sent. */
type AttemptResult = OutboundResult | { ok: false; latencyMs: number; errorKind: "internal"; message: string };

const asDate = (v: Date | string | null): Date | null => (v === null ? null : v instanceof Date ? v : new Date(v));
const asBuffer = (v: Uint8Array | null): Buffer | null => (v === null ? null : Buffer.from(v));

/**
 * The delivery engine. Each delivery row is the truth; a BullMQ job (jobId =
 * delivery id) runs its next attempt. An attempt is claimed in Postgres
 * first — one statement locks the row, checks it is due and not in flight,
 * takes the next attempt number and a lease — so with any number of workers
 * each attempt is made once; its row (primary key (delivery, number)) is
 * written when it ends. A worker that dies mid-attempt leaves a lease that
 * runs out: the next claim records that attempt as interrupted and makes a
 * new one. The outbox poller enqueues committed rows; the relay, a periodic
 * job, re-enqueues rows whose job Redis lost.
 */
export class WebhookEngine {
  readonly queue: Queue;
  readonly http: OutboundHttp;
  readonly #db: Db;
  readonly #leaseMs: number;
  readonly #openSecrets = new Map<
    string,
    { sealed: Buffer; previousSealed: Buffer | null; previousExpires: Date | null; secrets: { secret: string; previousSecret?: string } }
  >();
  readonly #claims = new Batcher<null, Claim>((ids) => this.#claim(ids.map(([id]) => id)));
  readonly #finishes = new Batcher<Finish, true>((rows) => this.#finish(rows.map(([, f]) => f)));
  #polling: Promise<void> | undefined;
  #pollAgain = false;
  #pollTimer: NodeJS.Timeout | undefined;
  readonly #onWrite = () => this.#wake();
  #worker: Worker | undefined;
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
    outboxWrites.on("written", this.#onWrite);
    this.#pollTimer = setInterval(() => this.#wake(), settings.outboxPollMs);
    this.#wake();
    this.#worker = jobs.process<{ deliveryId: string }>(DELIVERY_QUEUE, (job, token) => this.#process(job, token), settings.concurrency, {
      lockDuration: settings.jobLockMs,
      stalledInterval: settings.jobLockMs,
    });
    await jobs.every(RELAY_JOB, settings.relayIntervalMs, () => this.relay());
  }

  /** Stops polling, lets the attempts in flight end and be recorded, then closes the HTTP client. */
  async close(): Promise<void> {
    this.#closed = true;
    outboxWrites.off("written", this.#onWrite);
    clearInterval(this.#pollTimer);
    await this.#polling;
    await this.#worker?.close();
    await this.http.close();
  }

  /** Puts jobs on the queue for these deliveries; one already there is left as it is. */
  async enqueue(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.queue.addBulk(ids.map((id) => ({ name: "deliver", data: { deliveryId: id }, opts: { ...JOB_OPTIONS, jobId: id } })));
  }

  /**
   * Makes sure a pending delivery's job runs now: none (Redis lost it), or
   * one that already ended, gets a new one; a delayed one is promoted. True
   * when one was added or promoted.
   */
  async ensureJob(id: string): Promise<boolean> {
    const state = await this.queue.getJobState(id);
    if (state === "delayed") {
      await (await this.queue.getJob(id))?.promote().catch(() => undefined);
      return true;
    }
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
    const claim = await this.#claims.get(deliveryId, null);
    if (!claim) return this.#notClaimed(deliveryId);

    const number = claim.attempt_count;
    if (number > (claim.final_attempt ?? settings.retrySchedule.length + claim.extra_attempts)) {
      // The last scheduled attempt was interrupted (after the interruptions that do not count): no more.
      await this.#db
        .update(webhookDeliveries)
        .set({ status: "failed", failureReason: "attempts_exhausted", attemptCount: number - 1, inFlightUntil: null, nextAttemptAt: null, completedAt: new Date() })
        .where(and(eq(webhookDeliveries.id, claim.id), eq(webhookDeliveries.attemptCount, number), eq(webhookDeliveries.status, "pending")));
      return { kind: "failed", reason: "attempts_exhausted" };
    }
    let result: AttemptResult;
    try {
      const headers = deliveryHeaders({
        id: claim.id,
        eventType: claim.event_type,
        body: claim.body,
        attempt: number,
        timestamp: Math.floor(Date.now() / 1000),
        ...this.#secrets(claim),
      });
      result = await this.http.post(claim.url, headers, claim.body, settings.timeoutMs);
    } catch (err) {
      // Recorded as a failed attempt, so that the schedule goes on and ends.
      logger.error({ deliveryId: claim.id, err: (err as Error).message }, "could not make a webhook attempt");
      result = { ok: false, latencyMs: 0, errorKind: "internal", message: "internal" };
    }

    const decision = this.#decide(claim, result);
    const finished = await this.#finishes.get(`${claim.id}#${number}`, {
      id: claim.id,
      subscription_id: claim.subscription_id,
      number,
      started_at: asDate(claim.started_at)!.toISOString(),
      latency_ms: result.latencyMs,
      status_code: result.ok ? result.statusCode : null,
      error_kind: decision.errorKind,
      excerpt: result.ok ? result.excerpt : "",
      status: decision.status,
      reason: decision.reason,
      next_at: decision.nextAt?.toISOString() ?? null,
    });
    const log = {
      deliveryId: claim.id,
      subscriptionId: claim.subscription_id,
      attempt: number,
      statusCode: result.ok ? result.statusCode : undefined,
      errorKind: decision.errorKind,
      latencyMs: result.latencyMs,
    };
    if (!finished) {
      // The lease ran out and another worker took over, or the delivery was stopped meanwhile.
      logger.warn(log, "webhook attempt ended after its delivery moved on");
      return { kind: "done" };
    }
    if (decision.gone) logger.warn({ subscriptionId: claim.subscription_id }, "webhook endpoint answered 410 Gone: subscription disabled");
    if (decision.status === "succeeded") {
      logger.debug(log, "webhook delivered");
      return { kind: "done" };
    }
    logger.info({ ...log, next: decision.nextAt?.toISOString() ?? null }, "webhook attempt failed");
    return decision.status === "failed" ? { kind: "failed", reason: decision.reason! } : { kind: "later", at: decision.nextAt! };
  }

  /**
   * The signing secrets of a claim's subscription, opened once and kept
   * while the sealed values stay the same (a rotation changes them).
   */
  #secrets(claim: Claim): { secret: string; previousSecret?: string } {
    const sealed = asBuffer(claim.secret_enc);
    const previousSealed = asBuffer(claim.previous_secret_enc);
    const previousExpires = asDate(claim.previous_secret_expires_at);
    const cached = this.#openSecrets.get(claim.subscription_id);
    const now = new Date();
    if (
      cached &&
      sealed &&
      cached.sealed.equals(sealed) &&
      (previousSealed ? cached.previousSealed?.equals(previousSealed) : !cached.previousSealed) &&
      cached.previousExpires?.getTime() === previousExpires?.getTime() &&
      (!previousExpires || previousExpires > now)
    ) {
      return cached.secrets;
    }
    const secrets = openSecrets(this.deps.keyring, claim.tenant_id, { secretEnc: sealed, previousSecretEnc: previousSealed, previousSecretExpiresAt: previousExpires }, now);
    if (this.#openSecrets.size >= 10_000) this.#openSecrets.clear();
    if (sealed) this.#openSecrets.set(claim.subscription_id, { sealed, previousSealed, previousExpires, secrets });
    return secrets;
  }

  #decide(claim: Claim, result: AttemptResult) {
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

  /**
   * One statement for a batch of deliveries: lock each row, check it is due
   * and not in flight, take the next attempt number and the lease, and record
   * an interrupted predecessor. Rows locked by another statement are skipped,
   * not waited for (their jobs look again a moment later).
   */
  async #claim(ids: string[]): Promise<Map<string, Claim>> {
    const claims = await this.deps.database.query<Claim>(sql`WITH cur AS (
            SELECT d.id, d.in_flight_until AS lease, d.attempt_count AS previous_number, d.last_attempt_at AS previous_start
            FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
            WHERE d.id IN (${sql.join(
              ids.map((id) => sql`${id}`),
              sql`, `,
            )}) AND d.status = 'pending'
              AND (d.in_flight_until IS NULL OR d.in_flight_until < now())
              AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now() + make_interval(secs => ${EARLY_SLACK_MS / 1000}))
              AND s.deleted_at IS NULL AND (s.enabled OR d.test)
            ORDER BY d.id
            FOR UPDATE OF d SKIP LOCKED
          ), claimed AS (
            -- Only columns outside every index change here, so the update can stay on its page (HOT).
            UPDATE webhook_deliveries d SET
              attempt_count = d.attempt_count + 1,
              extra_attempts = d.extra_attempts + (CASE WHEN cur.lease IS NOT NULL AND d.extra_attempts < ${MAX_FREE_INTERRUPTS} THEN 1 ELSE 0 END),
              final_attempt = d.final_attempt + (CASE WHEN cur.lease IS NOT NULL AND d.extra_attempts < ${MAX_FREE_INTERRUPTS} THEN 1 ELSE 0 END),
              in_flight_until = now() + make_interval(secs => ${this.#leaseMs / 1000}),
              last_attempt_at = now()
            FROM cur WHERE d.id = cur.id
            RETURNING d.id, d.tenant_id, d.subscription_id, d.event_type, d.url, d.body, d.attempt_count,
              d.extra_attempts, d.final_attempt, d.last_attempt_at AS started_at
          ), interrupted AS (
            -- The previous attempt's worker let its lease run out: that attempt is recorded as interrupted.
            INSERT INTO webhook_attempts (delivery_id, number, started_at, finished_at, error_kind)
            SELECT cur.id, cur.previous_number, coalesce(cur.previous_start, now()), now(), 'interrupted'
            FROM cur WHERE cur.lease IS NOT NULL AND cur.previous_number > 0
            ON CONFLICT (delivery_id, number) DO NOTHING
          )
          SELECT c.id, c.tenant_id, c.subscription_id, c.event_type, c.url, c.body, c.attempt_count, c.extra_attempts,
            c.final_attempt, c.started_at, s.secret_enc, s.previous_secret_enc, s.previous_secret_expires_at
          FROM claimed c JOIN webhook_subscriptions s ON s.id = c.subscription_id`,
    );
    return new Map(claims.map((c) => [c.id, c]));
  }

  /**
   * Records a batch of attempts (one row each, written once the attempt
   * ended) and moves each delivery on, unless it moved on without it (its
   * lease ran out and another worker took over: the attempt's real outcome
   * then replaces the "interrupted" placeholder). Returns the keys
   * (id#number) whose delivery moved on.
   */
  async #finish(rows: Finish[]): Promise<Map<string, true>> {
    const applied = await this.deps.database.query<{ id: string; number: number }>(sql`WITH v AS (
            SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) AS v(id text, subscription_id text, number int,
              started_at timestamptz, latency_ms int, status_code int, error_kind text, excerpt text, status text, reason text,
              next_at timestamptz)
          ), gone AS (
            -- 410 Gone disables the subscription and stops its other pending deliveries, in the same commit.
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
            SELECT id, number, started_at, now(), latency_ms, status_code, error_kind, excerpt FROM v
            ON CONFLICT (delivery_id, number) DO UPDATE SET finished_at = excluded.finished_at, latency_ms = excluded.latency_ms,
              status_code = excluded.status_code, error_kind = excluded.error_kind, response_excerpt = excluded.response_excerpt
              WHERE webhook_attempts.error_kind = 'interrupted'
          )
          UPDATE webhook_deliveries d SET status = v.status, failure_reason = v.reason, next_attempt_at = v.next_at,
            in_flight_until = NULL, completed_at = CASE WHEN v.status = 'pending' THEN NULL ELSE now() END
          FROM v
          WHERE d.id = v.id AND d.attempt_count = v.number AND d.status = 'pending' AND d.in_flight_until IS NOT NULL
          RETURNING d.id, v.number`,
    );
    return new Map(applied.map((r) => [`${r.id}#${r.number}`, true as const]));
  }

  /** Why no attempt could be claimed, and what the job should do. */
  async #notClaimed(id: string): Promise<AttemptOutcome> {
    const [row] = await this.deps.database.query<{
      status: string;
      test: boolean;
      next_attempt_at: Date | string | null;
      in_flight_until: Date | string | null;
      enabled: boolean;
      deleted_at: Date | string | null;
    }>(sql`SELECT d.status, d.test, d.next_attempt_at, d.in_flight_until, s.enabled, s.deleted_at
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

  // ---- enqueueing after commit, and the relay -------------------------------

  /** Runs the outbox poller now (and once more after, if it is running already). */
  #wake(): void {
    if (this.#closed) return;
    if (this.#polling) {
      this.#pollAgain = true;
      return;
    }
    this.#polling = this.pollOutbox()
      .then(
        () => undefined,
        (err: Error) => this.deps.logger.warn({ err: err.message }, "could not enqueue new webhook deliveries"),
      )
      .finally(() => {
        this.#polling = undefined;
        if (this.#pollAgain) {
          this.#pollAgain = false;
          this.#wake();
        }
      });
  }

  /**
   * Takes committed outbox rows that have no job yet (SKIP LOCKED: each row
   * goes to one instance) and puts their jobs on the queue. A row taken
   * whose job could not be added (Redis down) is found again by the relay.
   * Returns how many were enqueued.
   */
  async pollOutbox(): Promise<number> {
    let total = 0;
    for (;;) {
      const taken = await this.deps.database.query<{ id: string }>(sql`WITH picked AS (
              SELECT id FROM webhook_deliveries WHERE enqueued_at IS NULL AND status = 'pending'
              ORDER BY id LIMIT ${POLL_BATCH} FOR UPDATE SKIP LOCKED)
            UPDATE webhook_deliveries d SET enqueued_at = now() FROM picked WHERE d.id = picked.id
            RETURNING d.id`,
      );
      await this.enqueue(taken.map((r) => r.id));
      total += taken.length;
      if (taken.length < POLL_BATCH || this.#closed) return total;
    }
  }

  /**
   * The outbox relay: pending deliveries overdue by more than the grace
   * period whose job is missing from Redis (never enqueued, or lost with a
   * Redis restart) get a job again. Returns how many.
   */
  async relay(): Promise<number> {
    const { settings, logger } = this.deps;
    const due = await this.deps.database.query<{ id: string; enqueued_at: Date | string | null }>(sql`SELECT id, enqueued_at FROM webhook_deliveries
          WHERE status = 'pending' AND next_attempt_at < now() - make_interval(secs => ${settings.relayGraceMs / 1000})
          ORDER BY next_attempt_at LIMIT ${RELAY_BATCH}`,
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
    if (requeued > 0) logger.info({ requeued }, "outbox relay: re-enqueued webhook deliveries whose job was missing or late");
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
