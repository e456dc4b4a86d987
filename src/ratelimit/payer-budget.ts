import type { Limit } from "../budgets.js";
import { TokenBucket } from "./token-bucket.js";

/** Tokens asked for per lease: 2 % of the budget (so credit overshoot stays small), 1 to 1,000. */
export function leaseChunk(points: number): number {
  return Math.min(1_000, Math.max(1, Math.ceil(points / 50)));
}

/** One call to Redis: charge the requests admitted without a lease, and ask for `want` more tokens, in `window`. */
export interface LeaseRequest {
  window: number;
  charge: number;
  want: number;
  sentAt: number;
}

export type Admission =
  /** `shared`: counted against the budget shared through Redis (leased or within credit); false: on this process's bucket alone. */
  | { kind: "admit"; shared: boolean }
  | { kind: "deny"; retryAfterMs: number }
  /** Credit is spent and Redis answers in time: wait for a lease (sending one if none is in flight), at most the timeout. */
  | { kind: "wait" };

/**
 * One payer's budget for one route class, in this process: a token bucket
 * (burst = the budget, refilled at budget/window) that every admission takes
 * from, and the tokens this process has leased from the shared fixed-window
 * counter in Redis. Pure: the facade (module.ts) passes the time and carries
 * the lease requests to Redis and their answers back.
 *
 * How the shared budget holds (see docs/operator.md, "Rate limits"):
 * - Redis answering in time: a request is admitted against a leased token
 *   (counted in Redis before it was handed out), or, while this process has
 *   none yet in this window, on credit: at most `chunk` requests per window,
 *   charged with the next lease. Across N processes a window admits at most
 *   budget + N × chunk.
 * - Redis slow or unavailable: admissions take from the local bucket alone
 *   (each process enforces the whole budget by itself) and are charged to
 *   the shared counter when Redis answers again.
 */
export class PayerBudget {
  readonly bucket: TokenBucket;
  readonly chunk: number;
  readonly windowMs: number;
  /** Index of the fixed window the lease state below belongs to. */
  window: number;
  /** Tokens leased for this window, not yet spent. */
  leased = 0;
  /** Requests admitted on credit in this window (at most `chunk`). */
  credit = 0;
  /** Requests admitted in this window without a lease, not yet charged to Redis. */
  unreported = 0;
  /** Redis said the window's budget is gone: once `leased` is spent, deny until the window ends. */
  spent = false;
  inflight: LeaseRequest | undefined;
  lastUsed: number;

  constructor(
    readonly limit: Limit,
    /** How late a lease answer may be before Redis counts as slow. */
    readonly timeoutMs: number,
    now: number,
  ) {
    this.windowMs = limit.durationSeconds * 1000;
    this.bucket = new TokenBucket(limit.points, limit.points / this.windowMs, now);
    this.chunk = leaseChunk(limit.points);
    this.window = Math.floor(now / this.windowMs);
    this.lastUsed = now;
  }

  /** Leases left at or below this trigger the next one, so it arrives before it is needed. */
  get lowWater(): number {
    return Math.floor(this.chunk / 2);
  }

  #roll(now: number): void {
    const window = Math.floor(now / this.windowMs);
    if (window === this.window) return;
    // Leases and unreported requests of an ended window count for nothing in the next one.
    this.window = window;
    this.leased = 0;
    this.credit = 0;
    this.unreported = 0;
    this.spent = false;
  }

  /**
   * Whether one request may go now. `redisInTime`: the process's last lease
   * call was answered within the timeout (false: Redis slow or unavailable).
   * `mayWait`: false once the request has waited as long as it may.
   */
  decide(now: number, redisInTime: boolean, mayWait = true): Admission {
    this.#roll(now);
    this.lastUsed = now;
    if (this.leased === 0 && this.spent) return { kind: "deny", retryAfterMs: (this.window + 1) * this.windowMs - now };
    if (this.bucket.available(now) < 1) return { kind: "deny", retryAfterMs: this.bucket.msUntilToken(now) };
    if (this.leased > 0) {
      this.leased--;
      this.bucket.take(now);
      return { kind: "admit", shared: true };
    }
    const late = this.inflight !== undefined && now - this.inflight.sentAt > this.timeoutMs;
    if (redisInTime && !late && this.credit < this.chunk) {
      this.credit++;
      this.unreported++;
      this.bucket.take(now);
      return { kind: "admit", shared: true };
    }
    if (redisInTime && !late && mayWait) return { kind: "wait" };
    this.unreported++;
    this.bucket.take(now);
    return { kind: "admit", shared: false };
  }

  /**
   * The lease call to make now, if any (and marks it in flight): charge what
   * was admitted without a lease, and ask for a chunk when the leases run low
   * and the window is not spent.
   */
  leaseToSend(now: number): LeaseRequest | undefined {
    this.#roll(now);
    if (this.inflight) return undefined;
    const want = !this.spent && this.leased <= this.lowWater ? this.chunk : 0;
    if (want === 0 && this.unreported === 0) return undefined;
    const request = { window: this.window, charge: this.unreported, want, sentAt: now };
    this.unreported = 0;
    this.inflight = request;
    return request;
  }

  /** Redis granted `granted` tokens; `total` is the window's count after this call. */
  leaseAnswered(request: LeaseRequest, granted: number, total: number): void {
    if (this.inflight === request) this.inflight = undefined;
    if (request.window !== this.window) return;
    this.leased += granted;
    if (total >= this.limit.points) this.spent = true;
  }

  /** The call failed: its charge is owed again (a command that ran and timed out is charged twice, which errs toward the limit). */
  leaseFailed(request: LeaseRequest): void {
    if (this.inflight === request) this.inflight = undefined;
    if (request.window === this.window) this.unreported += request.charge;
  }

  /** Nothing to lose by forgetting it: a window has passed since its last use (so its bucket is full) and nothing is in flight. */
  idle(now: number): boolean {
    return this.inflight === undefined && now - this.lastUsed >= this.windowMs;
  }
}
