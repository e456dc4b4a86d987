import type { CheckpointRecord } from "./checkpoints.js";

/** Entries kept for streams announced recently; past this many, the ones outside their window are dropped. */
const TRACKED_STREAMS = 10_000;

/**
 * Paces the broadcast of a stream's checkpoints: the first in a window goes
 * out at once, the ones after it wait for the window's end, and only the
 * newest of those goes then. The broadcast refreshes what other instances
 * serve as the stream's latest checkpoint, so only the newest matters to
 * them; without the pace, appends that wait for their proofs (one checkpoint
 * per commit, hundreds per second on one stream) made one Redis publish and
 * one decode on every instance each, the largest cost of a waiting append
 * after the signature. Other instances see a checkpoint at most one window
 * later; this one's own caches take each at once (the caller's part).
 */
export class AnnouncementPacer {
  readonly #streams = new Map<string, { lastAt: number; pending?: CheckpointRecord; timer?: NodeJS.Timeout }>();

  constructor(
    private readonly publish: (checkpoint: CheckpointRecord) => void,
    private readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  announce(checkpoint: CheckpointRecord): void {
    const at = this.now();
    const stream = this.#streams.get(checkpoint.streamId);
    if (!stream || (!stream.timer && at - stream.lastAt >= this.windowMs)) {
      this.#prune(at);
      this.#streams.set(checkpoint.streamId, { lastAt: at });
      this.publish(checkpoint);
      return;
    }
    // A later size, or the same one announced again with more on it (cosignatures, a timestamp).
    if (!stream.pending || checkpoint.treeSize >= stream.pending.treeSize) stream.pending = checkpoint;
    stream.timer ??= setTimeout(() => this.#flush(checkpoint.streamId), Math.max(0, stream.lastAt + this.windowMs - at));
  }

  /** Publishes what waits, now (at close, so other instances still hear the last checkpoints). */
  close(): void {
    for (const streamId of [...this.#streams.keys()]) this.#flush(streamId);
    this.#streams.clear();
  }

  #flush(streamId: string): void {
    const stream = this.#streams.get(streamId);
    if (!stream) return;
    clearTimeout(stream.timer);
    stream.timer = undefined;
    if (!stream.pending) return;
    const pending = stream.pending;
    stream.pending = undefined;
    stream.lastAt = this.now();
    this.publish(pending);
  }

  #prune(at: number): void {
    if (this.#streams.size < TRACKED_STREAMS) return;
    for (const [id, s] of this.#streams) if (!s.timer && at - s.lastAt >= this.windowMs) this.#streams.delete(id);
  }
}
