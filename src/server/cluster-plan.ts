/** What the primary does when a worker process exits. */
export type AfterExit =
  /** Shutting down: the exit was asked for. */
  | { action: "none" }
  /** Fork a replacement after `delayMs`. */
  | { action: "restart"; delayMs: number }
  /** Workers keep dying before they serve: stop everything and exit non-zero. */
  | { action: "give-up" };

/**
 * The primary's answer to a worker's exit. A worker that served and then
 * died (a crash, an OOM kill, SIGKILL) is replaced at once. A worker that
 * died before it served failed at start: the cause (configuration, the
 * database, the port) is usually shared by every worker, so during the
 * first start one such failure ends the server, and later `maxStartFailures`
 * in a row do, with a growing delay between tries so that a dependency that
 * is down for a moment does not burn through them.
 */
export function afterWorkerExit(s: {
  stopping: boolean;
  /** The worker had reported that it was serving. */
  served: boolean;
  /** Every worker of the first start has served (the server has started). */
  started: boolean;
  /** Failed starts in a row before this one. */
  startFailures: number;
  maxStartFailures: number;
}): AfterExit {
  if (s.stopping) return { action: "none" };
  if (s.served) return { action: "restart", delayMs: 0 };
  if (!s.started || s.startFailures + 1 >= s.maxStartFailures) return { action: "give-up" };
  return { action: "restart", delayMs: Math.min(5_000, 250 * 2 ** s.startFailures) };
}

/**
 * Connections per worker within the server's budget. Each worker has a pool
 * of its own, so `workers × ATTESTO_DB_POOL` connections are opened at full
 * load; PostgreSQL refuses clients past `max_connections` (less the slots
 * reserved for superusers), and the other clients already connected keep
 * theirs. When the configured pool does not fit, each worker gets its share
 * of what is free (never less than 2: one statement and one transaction),
 * and the caller warns. Undefined when the configured pool fits.
 */
export function poolPerWorker(s: { configured: number; workers: number; maxConnections: number; reserved: number; inUse: number }): number | undefined {
  const free = s.maxConnections - s.reserved - s.inUse;
  if (s.configured * s.workers <= free) return undefined;
  return Math.max(2, Math.floor(free / s.workers));
}
