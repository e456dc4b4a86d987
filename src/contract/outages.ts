import { databaseOutage, databaseRefusal } from "../db/errors.js";
import { AppError } from "../errors.js";
import { redisOutage } from "../infra/redis.js";

/**
 * What an edge answers for an error it did not expect: an outage of the
 * database or the queue is UNAVAILABLE with a retry time (clients retry it),
 * a value the database refused is INVALID_ARGUMENT, anything else stays as
 * it is (an unknown error becomes INTERNAL later).
 */
export function outageOr(err: unknown): unknown {
  if (err instanceof AppError) return err;
  return databaseOutage(err) ?? redisOutage(err) ?? databaseRefusal(err) ?? err;
}

/**
 * Past the request deadline. The work is not cancelled and may still take
 * effect (an append frozen in a commit lands when the database answers), so
 * the answer says so and how to find out: appends are idempotent by
 * source_ref, creates by request_id, and a retry answers what happened.
 */
export const deadlineExceeded = (ms: number) =>
  new AppError(
    "unavailable",
    `the request did not finish within ${ms} ms and may still take effect: an append may have committed, a create may have created. ` +
      "Retry it with the same source_ref (appends) or request_id (creates): the retry answers the outcome and never applies it twice",
    { reason: "DEADLINE_EXCEEDED", retryAfterSeconds: 1 },
  );

/** Runs `work` under a deadline; 0 means none. The work is not cancelled, only no longer waited for. */
export async function withDeadline<T>(ms: number, work: () => Promise<T>): Promise<T> {
  if (ms <= 0) return work();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(deadlineExceeded(ms)), ms);
  });
  try {
    return await Promise.race([work(), expired]);
  } finally {
    clearTimeout(timer);
  }
}
