import type { Logger } from "../logger.js";

/** Redis trouble is said in the log at most this often per kind. */
export const TROUBLE_LOG_INTERVAL_MS = 60_000;

export type RedisTrouble = "slow" | "unavailable";

/**
 * The rate limiter's lines about Redis: at most one a minute per kind, each
 * with the number of lease calls of that kind since the kind's last line, so
 * a minute of a loaded Redis is one line and not one per late call; a line
 * when Redis answers in time again, only after a trouble line. Slow (a lease
 * call answered late, or not within the client's command timeout) and
 * unavailable (refused, closed, not connected) are told apart: the first
 * wants patience or capacity, the second an operator.
 */
export class TroubleLog {
  readonly #last: Record<RedisTrouble, { saidAt: number; since: number }> = {
    slow: { saidAt: Number.NEGATIVE_INFINITY, since: 0 },
    unavailable: { saidAt: Number.NEGATIVE_INFINITY, since: 0 },
  };
  /** A trouble line was written and no recovery line since. */
  #said = false;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** One lease call of this kind of trouble; `detail` says what happened (never a key or a payload). */
  troubled(kind: RedisTrouble, detail: string): void {
    const last = this.#last[kind];
    last.since++;
    const now = this.now();
    if (now - last.saidAt < TROUBLE_LOG_INTERVAL_MS) return;
    const calls = last.since;
    last.saidAt = now;
    last.since = 0;
    this.#said = true;
    const what = kind === "slow" ? `Redis is slow (${detail}; or this process's event loop was blocked)` : `Redis is unavailable (${detail})`;
    const count = calls === 1 ? "" : `; ${calls} lease calls so since the last line`;
    this.logger.warn({ redis: kind, calls }, `rate limiter: ${what}${count}: each process enforces every budget alone until it answers in time (said at most once a minute)`);
  }

  /** Redis answered a lease call in time after trouble. */
  recovered(): void {
    if (!this.#said) return;
    this.#said = false;
    this.logger.info("rate limiter: Redis answers in time again, budgets are shared across instances again");
  }
}
