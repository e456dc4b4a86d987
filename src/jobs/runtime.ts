import { bullmqTelemetry } from "../infra/tracing.js";
import { Queue, Worker, type Job, type Processor, type WorkerOptions } from "bullmq";
import type { Role } from "../config.js";
import type { Redis } from "ioredis";
import type { RedisHandle } from "../infra/redis.js";
import type { Logger } from "../logger.js";

/** The queue of periodic jobs (job schedulers): checkpoint closing, audits, outbox relays. */
export const PERIODIC_QUEUE = "periodic";

export interface JobRuntimeOptions {
  redis: RedisHandle;
  logger: Logger;
  role: Role;
  /** Namespaces every BullMQ key, so that several deployments (or test runs) can share a Redis. */
  prefix: string;
}

/**
 * BullMQ queues and workers of one process. Every role can enqueue; only
 * the worker roles process. Periodic jobs are BullMQ job schedulers, so that
 * each tick runs once whatever the number of instances.
 */
export class JobRuntime {
  readonly #queues = new Map<string, Queue>();
  readonly #workers: Worker[] = [];
  readonly #periodic = new Map<string, (job: Job) => Promise<unknown>>();
  #periodicWorker: Worker | undefined;
  readonly #schedules = new Map<string, number>();
  #watchingSchedules = false;

  constructor(private readonly opts: JobRuntimeOptions) {}

  /** The key prefix of this deployment's queues, for other state shared through the same Redis. */
  get prefix(): string {
    return this.opts.prefix;
  }

  /** The shared Redis connection, for commands of the modules' own (the webhook throttle's slots). */
  redisClient(): Redis {
    return this.opts.redis.client;
  }

  get processes(): boolean {
    return this.opts.role !== "api";
  }

  /** Whether Redis answers now (periodic jobs fire only then). */
  get reachable(): boolean {
    return this.opts.redis.client.status === "ready";
  }

  queue(name: string): Queue {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.#connection(), prefix: this.opts.prefix, telemetry: bullmqTelemetry() });
      queue.on("error", (err) => this.opts.logger.warn({ queue: name, err: err.message }, "queue error"));
      this.#queues.set(name, queue);
    }
    return queue;
  }

  /** All queues of this process, for the operators' board. */
  queues(): Queue[] {
    return [...this.#queues.values()];
  }

  /** Processes a queue in this process when its role works jobs. */
  process<T = unknown, R = unknown>(
    name: string,
    processor: Processor<T, R>,
    concurrency = 1,
    options: Pick<WorkerOptions, "lockDuration" | "stalledInterval" | "maxStalledCount" | "autorun"> = {},
  ): Worker<T, R> | undefined {
    this.queue(name);
    if (!this.processes) return undefined;
    const worker = new Worker<T, R>(name, processor, { ...options, connection: this.#connection(), prefix: this.opts.prefix, concurrency, telemetry: bullmqTelemetry() });
    worker.on("error", (err) => this.opts.logger.warn({ queue: name, err: err.message }, "worker error"));
    worker.on("failed", (job, err) => this.opts.logger.warn({ queue: name, job: job?.name, err: err.message }, "job failed"));
    this.#workers.push(worker);
    return worker;
  }

  /** Periodic jobs seen without a handler here (each is logged once). */
  readonly #unhandled = new Set<string>();
  /** Periodic jobs whose handler a module registers later (it attaches in the background): their ticks are skipped quietly until then. */
  readonly #later = new Set<string>();
  /** Whether startPeriodic() was called: the periodic worker runs from then on. */
  #periodicStarted = false;

  /**
   * Starts working the periodic jobs, once every module has started and
   * registered its own: a tick left due by an earlier run would otherwise be
   * taken before its module registered, and skipped as having no handler
   * (said at every start, and wrongly).
   */
  startPeriodic(): void {
    if (this.#periodicStarted) return;
    this.#periodicStarted = true;
    this.#periodicWorker?.run().catch((err: Error) => this.opts.logger.warn({ queue: PERIODIC_QUEUE, err: err.message }, "worker error"));
  }

  /** These periodic jobs get their handler later in this process (see #later). */
  later(names: readonly string[]): void {
    for (const name of names) if (!this.#periodic.has(name)) this.#later.add(name);
  }

  /**
   * Runs `handler` every `everyMs` on exactly one instance. The schedule is
   * written by every role (idempotent), the handler runs on worker roles.
   */
  async every(name: string, everyMs: number, handler: () => Promise<unknown>): Promise<void> {
    this.#periodic.set(name, handler);
    this.#later.delete(name);
    this.#schedules.set(name, everyMs);
    await this.#upsertScheduler(name, everyMs);
    if (!this.#watchingSchedules) {
      this.#watchingSchedules = true;
      // A Redis that restarts without its data loses the schedulers: write them again on every reconnection.
      this.opts.redis.client.on("ready", () => {
        for (const [n, ms] of this.#schedules) {
          this.#upsertScheduler(n, ms).catch((err: Error) => this.opts.logger.warn({ job: n, err: err.message }, "could not restore a job scheduler"));
        }
      });
    }
    if (!this.#periodicWorker) {
      this.#periodicWorker = this.process(
        PERIODIC_QUEUE,
        async (job) => {
          const run = this.#periodic.get(job.name);
          if (!run) {
            // A schedule this process has no handler for: left in Redis by a run with another
            // configuration (anchoring on then, off now), or one a module registers later (the
            // anchoring module attaches its chain in the background: skipped quietly). Failing
            // would log a warning on every tick forever; a skipped tick of a periodic job is
            // harmless. Said once per name.
            if (this.#later.has(job.name)) return undefined;
            if (!this.#unhandled.has(job.name)) {
              this.#unhandled.add(job.name);
              this.opts.logger.info({ job: job.name }, "a periodic job with no handler in this process: its ticks are skipped here");
            }
            return undefined;
          }
          return run(job);
        },
        2,
        // Not before startPeriodic(): the modules registering after this one would miss their ticks.
        { autorun: this.#periodicStarted },
      );
    }
  }

  #upsertScheduler(name: string, everyMs: number) {
    return this.queue(PERIODIC_QUEUE).upsertJobScheduler(name, { every: everyMs }, { name, opts: { removeOnComplete: 100, removeOnFail: 100 } });
  }

  /** Lets active jobs finish, then closes workers and queues. */
  async close(): Promise<void> {
    await Promise.allSettled(this.#workers.map((w) => w.close()));
    await Promise.allSettled([...this.#queues.values()].map((q) => q.close()));
  }

  #connection() {
    // BullMQ needs blocking-safe connections: no per-request retry limit.
    return this.opts.redis.connect({ maxRetriesPerRequest: null });
  }
}
