import { DelayedError, UnrecoverableError, type Job, type JobsOptions, type Queue, type Worker } from "bullmq";
import { jobTraceMetadata } from "../infra/tracing.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import type { AttemptOutcome, AttemptRunner, AttemptSummary } from "./attempt-runner.js";
import type { DeliveryLabel, DeliveryRows } from "./delivery-rows.js";
import type { WebhookSettings } from "./settings.js";
import type { DeliveryThrottle } from "./throttle.js";

export const DELIVERY_QUEUE = "webhook-deliveries";
export const RELAY_JOB = "webhook-outbox-relay";

/** Rows the relay looks at per run. */
const RELAY_BATCH = 1_000;
/** Outbox rows taken per poll statement. */
const POLL_BATCH = 1_000;

/**
 * A delivery job's data: what the queue board shows (event type, tenant,
 * endpoint host, attempt n of N and how the last one ended). Only the
 * delivery id is used; the row in Postgres holds the truth.
 */
export interface DeliveryJobData extends Partial<DeliveryLabel> {
  deliveryId: string;
  /** "n of N", set when an attempt is to be retried. */
  attempt?: string;
  /** The last attempt's HTTP status or error kind. */
  last?: string;
}

/** The job's name on the board: what and where, e.g. "proofstream.checkpointed → hooks.example.com". */
export const deliveryJobName = (label: DeliveryLabel) => `${label.eventType} → ${label.endpointHost}`;
const summaryText = (s: AttemptSummary) => `attempt ${s.attempt} of ${s.of}: ${s.last}`;

const JOB_OPTIONS: JobsOptions = {
  // The job of a delivery that ended stays a while for the board, then goes.
  removeOnComplete: { count: 1_000 },
  removeOnFail: { count: 5_000 },
  // Only for errors of our own (database down): the schedule itself is driven by the delivery row.
  attempts: 3,
  backoff: { type: "exponential", delay: 1_000 },
};

/**
 * The delivery engine: BullMQ jobs (jobId = delivery id) are the timers of
 * the delivery rows, which hold the truth. The outbox poller enqueues
 * committed rows; the worker runs attempts (AttemptRunner) and delays the job
 * to the next one; the relay, a periodic job, re-enqueues rows whose job
 * Redis lost.
 */
export class WebhookEngine {
  readonly queue: Queue;
  #polling: Promise<void> | undefined;
  #pollAgain = false;
  #pollTimer: NodeJS.Timeout | undefined;
  #worker: Worker | undefined;
  #closed = false;

  constructor(private readonly deps: { store: DeliveryRows; runner: AttemptRunner; jobs: JobRuntime; logger: Logger; settings: WebhookSettings; throttle: DeliveryThrottle }) {
    this.queue = deps.jobs.queue(DELIVERY_QUEUE);
  }

  /** Polls the outbox, works the queue (worker roles) and schedules the relay. */
  async start(): Promise<void> {
    const { settings, jobs } = this.deps;
    this.#pollTimer = setInterval(() => this.wake(), settings.outboxPollMs);
    this.wake();
    this.#worker = jobs.process<DeliveryJobData>(DELIVERY_QUEUE, (job, token) => this.#process(job, token), settings.concurrency, {
      lockDuration: settings.jobLockMs,
      stalledInterval: settings.jobLockMs,
    });
    await jobs.every(RELAY_JOB, settings.relayIntervalMs, () => this.relay());
  }

  /** Stops polling and lets the attempts in flight end and be recorded. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pollTimer);
    await this.#polling;
    await this.#worker?.close();
  }

  /** Puts jobs on the queue for these deliveries; one already there is left as it is. */
  async enqueue(labels: DeliveryLabel[]): Promise<void> {
    if (labels.length === 0) return;
    await this.queue.addBulk(
      labels.map(({ traceParent, ...label }) => ({
        name: deliveryJobName(label),
        data: { ...label } satisfies DeliveryJobData,
        // BullMQ's process span (tracing on) continues the trace that wrote the row.
        opts: { ...JOB_OPTIONS, jobId: label.deliveryId, ...(traceParent ? { telemetry: { metadata: jobTraceMetadata(traceParent) } } : {}) },
      })),
    );
  }

  /**
   * Makes sure a pending delivery's job runs now: none (Redis lost it), or
   * one that already ended, gets a new one; a delayed one is promoted. True
   * when one was added or promoted; false when a job is already waiting or
   * running. A job that changes state meanwhile is looked at again.
   */
  async ensureJob(id: string): Promise<boolean> {
    for (let tries = 0; ; tries++) {
      const state = await this.queue.getJobState(id);
      if (state === "delayed") {
        const job = await this.queue.getJob(id);
        if (
          job &&
          (await job.promote().then(
            () => true,
            (err: Error) => (tries < 2 ? false : Promise.reject(err)),
          ))
        )
          return true;
        continue;
      }
      if (state !== "unknown" && state !== "completed" && state !== "failed") return false;
      if (state !== "unknown" && (await this.queue.remove(id)) === 0) {
        if (tries < 2) continue;
        throw new Error(`the ended job of delivery ${id} could not be removed`);
      }
      await this.enqueue([(await this.deps.store.label(id)) ?? { deliveryId: id, tenantId: "", subscriptionId: "", eventType: "", endpointHost: "" }]);
      return true;
    }
  }

  /** Makes the delivery's next attempt now, if it is due (tests and tools; the worker calls the same). */
  async attempt(deliveryId: string): Promise<AttemptOutcome> {
    const outcome = await this.deps.runner.attempt(deliveryId);
    if (outcome.woken?.length) this.runNow(outcome.woken);
    return outcome;
  }

  /**
   * Ordered delivery: the jobs of deliveries made due (by the end of an
   * earlier one, or by a change of the subscription) run now. A job that is running at that moment (its claim
   * held the delivery and is about to delay it) is looked at again once it
   * is not. Should this fail, the row is due and overdue rows are the
   * relay's: the delivery waits for the relay, not for its bound.
   */
  runNow(ids: string[]): void {
    const nudge = async (id: string) => {
      for (let tries = 0; tries < 20 && !this.#closed; tries++) {
        if (await this.ensureJob(id)) return;
        if ((await this.queue.getJobState(id)) !== "active") return;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    for (const id of ids) nudge(id).catch((err: Error) => this.deps.logger.warn({ deliveryId: id, err: err.message }, "could not run a held webhook delivery's job; the relay will"));
  }

  // What the board shows comes with what the job does anyway (its return value, its failure, its
  // move to delayed); only a retry costs one more Redis call, to keep "attempt n of N" on the job.
  async #process(job: Job<DeliveryJobData>, token?: string): Promise<string> {
    // A throttled subscription's attempt takes a send slot first (throttle.ts); one far off delays the job unclaimed.
    const admitted = await this.deps.throttle.admit(job.data.subscriptionId);
    if (!admitted.go) {
      await job.moveToDelayed(admitted.retryAt, token);
      throw new DelayedError();
    }
    const outcome = await this.attempt(job.data.deliveryId);
    const summary = outcome.summary;
    if (outcome.kind === "failed") throw new UnrecoverableError(`delivery failed${summary ? ` after ${summaryText(summary)}` : ""}: ${outcome.reason}`);
    if (outcome.kind === "later") {
      if (summary) await job.updateData({ ...job.data, attempt: `${summary.attempt} of ${summary.of}`, last: summary.last });
      await job.moveToDelayed(outcome.at.getTime(), token);
      throw new DelayedError();
    }
    return summary ? `delivered on ${summaryText(summary)}` : "done";
  }

  /** Runs the outbox poller now (and once more after, if it is running already). */
  wake(): void {
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
          this.wake();
        }
      });
  }

  /**
   * Takes committed outbox rows that have no job yet and puts their jobs on
   * the queue. A row taken whose job could not be added (Redis down) is
   * found again by the relay. Returns how many were enqueued.
   */
  async pollOutbox(): Promise<number> {
    let total = 0;
    for (;;) {
      const taken = await this.deps.store.takeOutbox(POLL_BATCH);
      await this.enqueue(taken);
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
    const { settings, logger, store } = this.deps;
    const due = await store.overdue(settings.relayGraceMs, RELAY_BATCH);
    let requeued = 0;
    for (let i = 0; i < due.length; i += 50) {
      const added = await Promise.all(due.slice(i, i + 50).map((r) => this.ensureJob(r.id)));
      requeued += added.filter(Boolean).length;
    }
    await store.markEnqueued(due.filter((r) => !r.enqueued).map((r) => r.id));
    if (requeued > 0) logger.info({ requeued }, "outbox relay: re-enqueued webhook deliveries whose job was missing or late");
    return requeued;
  }
}
