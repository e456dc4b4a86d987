import { sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";

/** Arbitrary constant: the advisory lock that elects one signer while Redis is unreachable. */
const SIGNER_LOCK = 0x5349474e;

/**
 * The periodic signer's stand-in while Redis is down: signing must not stop
 * with the job queue, so the worker instances sign on a timer of their own,
 * one at a time (a Postgres advisory lock). Signing itself is a
 * compare-and-swap, so a race only wastes work.
 */
export class SignerWithoutQueue {
  #timer: NodeJS.Timeout | undefined;
  #signing = false;

  constructor(private readonly deps: { db: Db; jobs: JobRuntime; logger: Logger; closeGrown: () => Promise<number> }) {}

  /** Only in processes that run jobs: they are the ones the queue would have signed in. */
  start(intervalMs: number): void {
    if (!this.deps.jobs.processes) return;
    this.#timer = setInterval(() => void this.#tick(), intervalMs);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  async #tick(): Promise<void> {
    if (this.deps.jobs.reachable || this.#signing) return;
    this.#signing = true;
    try {
      await this.deps.db.transaction(async (tx) => {
        const [lock] = await tx.execute<{ locked: boolean }>(sql`select pg_try_advisory_xact_lock(${SIGNER_LOCK}) as locked`);
        if (lock?.locked) {
          const signed = await this.deps.closeGrown();
          if (signed > 0) this.deps.logger.info({ signed }, "signed checkpoints without the job queue (Redis unreachable)");
        }
      });
    } catch (err) {
      this.deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, "checkpoint signing without the job queue failed");
    } finally {
      this.#signing = false;
    }
  }
}
