/**
 * How long events sequenced on a contended stream wait, at most, before this
 * process hashes them into the tree. Every integration's write takes the
 * stream row that every sequencing commit takes too, and holds it through its
 * own commit, so each one costs the sequencers a turn at the row; nothing
 * waits for the tree but signing, and signing integrates first. Two workers
 * on one stream append 1.25 × as fast at 200 ms as at 20 ms (median of 7
 * interleaved rounds, 1.04–1.51; docs/architecture.md, "Several processes,
 * one stream").
 */
export const INTEGRATE_EVERY_MS = 200;

/** After failed runs (the database away), the next waits longer, up to this. */
const RETRY_MAX_MS = 1_000;

/** Integrates the given streams' trees up to at least the given sizes (Sequencer.integrate). */
export type IntegrateFn = (targets: ReadonlyMap<string, number>) => Promise<void>;

/**
 * Integration in the background, paced (Tessera's integrator beside its
 * sequencer): appends on contended streams answer once their seq_no is
 * final, and this hashes what they sequenced into the tree afterwards,
 * every stream due in one call, at most once every `everyMs` and never two
 * calls at a time. Between two runs every process's appends keep
 * sequencing, so one integration takes everything sequenced meanwhile,
 * and its writes (the stream row and tiles) meet the sequencers' row lock
 * a few dozen times a second whatever the append rate. Nothing waits for
 * it to be correct: whatever signs a checkpoint integrates the stream
 * first (Checkpointer), and a failed run leaves its streams due for the
 * next one.
 */
export class Integrator {
  /** Stream id → the size its tree must reach. */
  #due = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #failures = 0;

  constructor(
    private readonly integrate: IntegrateFn,
    private readonly onError: (err: unknown, streamIds: string[]) => void,
    private readonly everyMs = INTEGRATE_EVERY_MS,
  ) {}

  /** The stream's tree must come to cover `upTo`. */
  due(streamId: string, upTo: number): void {
    if (upTo <= 0) return;
    if (upTo > (this.#due.get(streamId) ?? 0)) this.#due.set(streamId, upTo);
    this.#schedule();
  }

  /** Streams waiting for a run. */
  get pending(): number {
    return this.#due.size;
  }

  /** Integrates now whatever is due, after the run in progress; resolves when both are done (errors go to onError). */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
    if (this.#due.size > 0) await this.#run();
  }

  /** Integrates what is due once more and stops (what a failure leaves is the periodic checkpoint job's). */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
  }

  #schedule(): void {
    if (this.#timer || this.#running || this.#closed) return;
    const delay = this.#failures === 0 ? this.everyMs : Math.min(RETRY_MAX_MS, this.everyMs * 2 ** this.#failures);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // A flush may be running: its end schedules what is left.
      if (!this.#running) void this.#run();
    }, delay);
    // Nothing is lost if the process ends first (the events are durable; a signing integrates them): no reason to keep it alive.
    this.#timer.unref();
  }

  #run(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const targets = this.#due;
    this.#due = new Map();
    const run = (async () => {
      try {
        await this.integrate(targets);
        this.#failures = 0;
      } catch (err) {
        // Still due: the next run takes them with whatever came since.
        for (const [id, upTo] of targets) if (upTo > (this.#due.get(id) ?? 0)) this.#due.set(id, upTo);
        this.#failures++;
        this.onError(err, [...targets.keys()]);
      } finally {
        this.#running = undefined;
        if (this.#due.size > 0) this.#schedule();
      }
    })();
    this.#running = run;
    return run;
  }
}
