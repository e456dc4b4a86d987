import type { Logger } from "../logger.js";

/**
 * Runs the cleanups in reverse order of their registration. Shutdown ends
 * within the grace period even when a step hangs (with the database gone
 * first, BullMQ's worker close waits on jobs that cannot finish): a step
 * still running at the deadline is left behind, and the remaining steps are
 * started without waiting for them. The deadline keeps some headroom for the
 * process to exit before the grace period is over.
 */
export async function stopInReverse(cleanups: Array<() => Promise<unknown>>, graceMs: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + graceMs - Math.min(500, graceMs / 10);
  let abandoned = 0;
  for (const cleanup of cleanups.reverse()) {
    const step = cleanup().then(
      () => true,
      (err) => (logger.warn({ err }, "shutdown step failed"), true),
    );
    let timer: NodeJS.Timeout | undefined;
    const overdue = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
    const finished = await Promise.race([step, overdue]);
    clearTimeout(timer);
    if (!finished) abandoned++;
  }
  if (abandoned) throw new Error(`shutdown did not finish within ATTESTO_SHUTDOWN_GRACE_MS (${graceMs} ms): ${abandoned} step(s) left running`);
}
