import { LRUCache } from "lru-cache";

/** Streams whose last signing this process remembers; past this many, the oldest are forgotten (they sign a little sooner). */
const TRACKED_STREAMS = 100_000;

/**
 * When a stream's checkpoint is due in the commit that appends to it. The
 * periodic job signed every grown stream once an interval, each in a
 * transaction of its own (its row read, the previous checkpoint, a
 * consistency proof from the tiles, the signature, the row's
 * compare-and-swap, the insert): with 100 busy streams, 100 such
 * transactions a second, which took a quarter of the append throughput and
 * held stream rows against the appends' statement. A stream appended to
 * now is instead signed by its commit once an interval (the tree the
 * statement writes, from the right edge in memory, stored by the same
 * statement), and the periodic job signs only the grown streams whose
 * latest checkpoint is older than half an interval: those no commit signed.
 */
export class CheckpointPace {
  #inCommit = 0;
  /** Stream id → when this process last signed it (ms, `now`'s clock). */
  readonly #signedAt = new LRUCache<string, number>({ max: TRACKED_STREAMS });

  constructor(
    readonly intervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True when this process signed no checkpoint of the stream within the interval. */
  due(streamId: string): boolean {
    const at = this.#signedAt.get(streamId);
    return at === undefined || this.now() - at >= this.intervalMs;
  }

  /** A checkpoint of the stream was signed here (by a commit or by the Checkpointer). */
  signed(streamId: string): void {
    this.#signedAt.set(streamId, this.now());
  }

  /** A commit signed a stream's periodic checkpoint (counted; `signed` follows with the rest). */
  signedInCommit(): void {
    this.#inCommit++;
  }

  /** Periodic checkpoints signed in commits since start (a metric). */
  get inCommit(): number {
    return this.#inCommit;
  }

  /** The periodic job leaves streams signed more recently than this alone. */
  get recentMs(): number {
    return Math.floor(this.intervalMs / 2);
  }
}
