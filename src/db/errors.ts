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
      return new AppError("unavailable", "the database asked to retry the transaction", {}, { cause: err });
    case "57P01":
    case "08006":
    case "08001":
    case "08003":
      return new AppError("unavailable", "the database is unavailable", {}, { cause: err });
    default:
      return new AppError("internal", "database error", {}, { cause: err });
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
