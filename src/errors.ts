/**
 * The one error type of the domain, free of any transport. Domain modules
 * throw it with a code; the edges map the code once: to a Connect code and
 * `google.rpc.ErrorInfo` in src/rpc/errors.ts, to an HTTP status and JSON
 * body in src/http/errors.ts. Messages are safe to show to the caller: they
 * never contain secrets, keys or payloads. A field is named by its contract
 * (proto) name; an edge renders it in its own vocabulary.
 */
export type ErrorCode =
  | "invalid_argument"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "already_exists"
  | "replay_conflict"
  | "failed_precondition"
  | "resource_exhausted"
  | "payload_too_large"
  | "unavailable"
  | "unimplemented"
  | "internal";

export interface ErrorDetails {
  /** The offending request field, by its contract path (`event_types[1]`, `page_size`). */
  field?: string;
  /** A stable machine-readable reason when the code alone has several causes. */
  reason?: string;
  /** When a retry may succeed, for rate limits and outages. */
  retryAfterSeconds?: number;
}

export class AppError extends Error {
  override readonly name = "AppError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The same error about another field name (an edge renders contract paths its own way). */
  withField(field: string): AppError {
    const old = this.details.field;
    const message = old && this.message.startsWith(old) ? field + this.message.slice(old.length) : this.message;
    return new AppError(this.code, message, { ...this.details, field }, { cause: this });
  }
}

export const invalidArgument = (field: string, problem: string) => new AppError("invalid_argument", `${field}: ${problem}`, { field });

export const notFound = (what: string) => new AppError("not_found", `${what} not found`);

/** Anything thrown, as an AppError; errors of unknown kind become `internal` (their text is never shown). */
export function toAppError(err: unknown): AppError {
  return err instanceof AppError ? err : new AppError("internal", "internal error", {}, { cause: err });
}
