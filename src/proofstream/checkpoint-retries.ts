/**
 * When the periodic checkpointer tries a stream again after signing it
 * failed for a reason of the stream's own (its key cannot be opened with
 * this deployment's master key, a consistency check refused): after 1 s,
 * then twice as long each time, up to 5 minutes. Without it, one such
 * stream is read, proven and refused on every tick (every 300 ms in the
 * tests, 1 s by default) with an error logged each time, taking connections
 * and event-loop time from appends for nothing. Outages are not such a
 * reason: they end by themselves, and the next tick should find them over.
 *
 * Pure: the caller passes the time, so the schedule has a unit spec.
 */
export class CheckpointRetries {
  readonly #failing = new Map<string, { failures: number; nextAt: number }>();

  constructor(
    private readonly firstDelayMs = 1_000,
    private readonly maxDelayMs = 300_000,
  ) {}

  /** Whether the stream may be tried at `now` (true for every stream that has not failed). */
  due(streamId: string, now: number): boolean {
    const entry = this.#failing.get(streamId);
    return !entry || now >= entry.nextAt;
  }

  /**
   * Records a failure at `now`. `report` is true for the first failure and
   * then once each time the delay is at its longest, so a stream that stays
   * broken is logged once and then every few minutes, not every tick.
   */
  failed(streamId: string, now: number): { failures: number; retryInMs: number; report: boolean } {
    const failures = (this.#failing.get(streamId)?.failures ?? 0) + 1;
    const retryInMs = Math.min(this.maxDelayMs, this.firstDelayMs * 2 ** Math.min(failures - 1, 30));
    this.#failing.set(streamId, { failures, nextAt: now + retryInMs });
    return { failures, retryInMs, report: failures === 1 || retryInMs === this.maxDelayMs };
  }

  /** Forgets the stream's failures; returns how many there were (0: it was not failing). */
  succeeded(streamId: string): number {
    const failures = this.#failing.get(streamId)?.failures ?? 0;
    this.#failing.delete(streamId);
    return failures;
  }

  /** Streams currently held back. */
  get size(): number {
    return this.#failing.size;
  }
}
