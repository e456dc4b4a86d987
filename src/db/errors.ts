import { AppError } from "../errors.js";

/** The SQLSTATE of a postgres.js error, looked up through Drizzle's wrapping. */
export function sqlState(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

export const isUniqueViolation = (err: unknown) => sqlState(err) === "23505";

/** Seconds a client is told to wait after an outage before retrying. */
export const OUTAGE_RETRY_SECONDS = 1;

/**
 * Driver and socket codes of a database that cannot be reached or dropped
 * the connection (postgres.js names its own; Node names the socket's).
 */
const UNREACHABLE = new Set([
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * SQLSTATEs of a database that is there but cannot serve now: connection
 * exceptions (08), insufficient resources such as "too many clients" (53),
 * operator intervention (57: shutdown, statement timeout, cancel),
 * serialization failures or deadlocks (40001, 40P01), and a write refused as
 * read-only (25006): the connection reached a standby, which during a
 * failover is the node being promoted (HAProxy sends connections to it as
 * soon as Patroni names it primary, a moment before it accepts writes).
 */
function retryableState(state: string): boolean {
  return state.startsWith("08") || state.startsWith("53") || state.startsWith("57") || state === "40001" || state === "40P01" || state === READ_ONLY_TRANSACTION;
}
const READ_ONLY_TRANSACTION = "25006";

/** The driver's own code (not a SQLSTATE) of an error or its causes. */
function driverCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && UNREACHABLE.has(code)) return code;
  }
  return undefined;
}

/**
 * A value the database refused (SQLSTATE class 22, data exception: bad
 * encoding, out of range, invalid text representation) as the caller's
 * error, or undefined. The checks before the database should catch these
 * first; this keeps one that slipped through from answering INTERNAL.
 */
export function databaseRefusal(err: unknown): AppError | undefined {
  if (err instanceof AppError) return undefined;
  const state = sqlState(err);
  if (!state?.startsWith("22")) return undefined;
  return new AppError("invalid_argument", "a value was rejected by the database", {}, { cause: err });
}

/**
 * An outage as the retryable domain error (UNAVAILABLE with a retry time),
 * or undefined when the error is something else. Any edge can ask this of
 * an error it did not expect.
 */
export function databaseOutage(err: unknown): AppError | undefined {
  if (err instanceof AppError) return undefined;
  const state = sqlState(err);
  if (state && retryableState(state)) {
    const message =
      state === "53300"
        ? "the database has no free connections"
        : state === "57014"
          ? "the database statement timed out"
          : state === READ_ONLY_TRANSACTION
            ? "the database is read-only here (a failover is under way)"
            : "the database is unavailable";
    return new AppError("unavailable", message, { reason: "DATABASE_UNAVAILABLE", retryAfterSeconds: OUTAGE_RETRY_SECONDS }, { cause: err });
  }
  if (!state && driverCode(err)) {
    return new AppError("unavailable", "the database is unavailable", { reason: "DATABASE_UNAVAILABLE", retryAfterSeconds: OUTAGE_RETRY_SECONDS }, { cause: err });
  }
  return undefined;
}

/**
 * Maps a database error to the domain error once. The
 * messages name the conflict, never the SQL or the row's values.
 */
export function normalizeDbError(err: unknown, messages: { unique?: string; foreignKey?: string } = {}): AppError {
  if (err instanceof AppError) return err;
  switch (sqlState(err)) {
    case "23505":
      return new AppError("already_exists", messages.unique ?? "already exists", {}, { cause: err });
    case "23503":
      return new AppError("failed_precondition", messages.foreignKey ?? "a referenced resource does not exist", {}, { cause: err });
    case "23502":
    case "23514":
    case "22P02":
    case "22001":
      return new AppError("invalid_argument", "a value was rejected by the database", {}, { cause: err });
    case "40001":
    case "40P01":
      return new AppError("unavailable", "the database asked to retry the transaction", { reason: "DATABASE_RETRY", retryAfterSeconds: OUTAGE_RETRY_SECONDS }, { cause: err });
    default:
      return databaseOutage(err) ?? new AppError("internal", "database error", {}, { cause: err });
  }
}

/** Runs a query, normalizing whatever it throws. */
export async function withDbErrors<T>(run: () => Promise<T>, messages?: { unique?: string; foreignKey?: string }): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw normalizeDbError(err, messages);
  }
}
