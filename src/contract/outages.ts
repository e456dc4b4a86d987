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

/** Past the request deadline: retryable, the work may still finish (appends are idempotent by source_ref). */
export const deadlineExceeded = (ms: number) =>
  new AppError("unavailable", `the request did not finish within ${ms} ms`, { reason: "DEADLINE_EXCEEDED", retryAfterSeconds: 1 });

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
