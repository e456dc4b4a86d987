/**
 * A token bucket: holds up to `burst` tokens and refills `ratePerMs` tokens
 * per millisecond of elapsed time. The caller passes the time, so the bucket
 * is pure, and a stalled event loop refills it by the time that passed and
 * never past the burst: a stall cannot switch a limit off.
 */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly burst: number,
    readonly ratePerMs: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#at = now;
  }

  /** Tokens in the bucket at `now` (fractional while refilling). */
  available(now: number): number {
    if (now > this.#at) {
      this.#tokens = Math.min(this.burst, this.#tokens + (now - this.#at) * this.ratePerMs);
      this.#at = now;
    }
    return this.#tokens;
  }

  /** Takes one token if there is a whole one. */
  take(now: number): boolean {
    if (this.available(now) < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until a whole token is in the bucket; 0 when there is one. */
  msUntilToken(now: number): number {
    const tokens = this.available(now);
    return tokens >= 1 ? 0 : (1 - tokens) / this.ratePerMs;
  }
}
