/** What a batcher does with the calls waiting for it. */
export type FlushStep =
  /** Nothing waits. */
  | "none"
  /** Run the waiting calls now: the batch is full. */
  | "now"
  /** Run them at the end of this event-loop turn: the calls made in the same turn join them. */
  | "end-of-turn"
  /** Leave them waiting: a run is in flight, and its end flushes what gathered meanwhile. */
  | "after-run";

/**
 * When a batcher flushes (group commit). A fixed window made every call
 * wait it out even when nothing else was coming: a worker with attempts in
 * flight paid two windows per attempt and sat idle. Instead, with no run in
 * flight the batch goes at the end of the current turn (calls resolved by
 * the same Redis or Postgres answer join it), and while runs are in flight
 * the calls gather until one ends, so batches grow with the load by
 * themselves. A full batch never waits.
 */
export function flushStep(s: { waiting: number; running: number; max: number; maxRunning: number }): FlushStep {
  if (s.waiting === 0) return "none";
  if (s.waiting >= s.max) return "now";
  if (s.running < s.maxRunning) return "end-of-turn";
  return "after-run";
}
