/** Apple keeps 180 days of notification history; Google's voided purchases reach back 30 days. */
export const APPLE_HISTORY_MS = 180 * 86_400_000;
export const GOOGLE_VOIDED_MS = 30 * 86_400_000;
/** A margin inside those limits, so a window computed a moment earlier is still accepted. */
const LIMIT_MARGIN_MS = 3_600_000;

/**
 * The window one reconciliation of a source reads: from where the last one
 * got to (its cursor row), else from the newest stored notification, else
 * `firstWindowMs` back; reaching `overlapMs` further back for a store's late
 * entries, and never past what the store keeps (`limitMs`).
 */
export function reconcileWindow(now: Date, known: { cursor?: Date; newestStored?: Date }, opts: { firstWindowMs: number; overlapMs: number; limitMs: number }): { start: Date; end: Date } {
  const from = known.cursor ?? known.newestStored ?? new Date(now.getTime() - opts.firstWindowMs);
  const start = Math.max(from.getTime() - opts.overlapMs, now.getTime() - opts.limitMs + LIMIT_MARGIN_MS);
  return { start: new Date(Math.min(start, now.getTime())), end: now };
}
