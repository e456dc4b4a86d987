import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The one error type of the domain. Domain modules throw it with a code; the
 * transport edges map the code once, to a Connect code (src/rpc) or an HTTP
 * status (src/http). Messages are safe to show to the caller: they never
 * contain secrets, keys or payloads.
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

export class AppError extends Error {
  override readonly name = "AppError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { field?: string; retryAfterSeconds?: number; reason?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const invalidArgument = (field: string, problem: string) =>
  new AppError("invalid_argument", `${field}: ${problem}`, { field });

export const notFound = (what: string) => new AppError("not_found", `${what} not found`);

const connectCodes: Record<ErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  replay_conflict: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  payload_too_large: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
};

const httpStatuses: Record<ErrorCode, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  replay_conflict: 409,
  failed_precondition: 412,
  resource_exhausted: 429,
  payload_too_large: 413,
  unavailable: 503,
  unimplemented: 501,
  internal: 500,
};

export function connectCodeOf(code: ErrorCode): Code {
  return connectCodes[code];
}

export function httpStatusOf(code: ErrorCode): number {
  return httpStatuses[code];
}

const fromConnect: Partial<Record<Code, ErrorCode>> = Object.fromEntries(
  Object.entries(connectCodes).map(([k, v]) => [v, k as ErrorCode]),
);

/** Anything thrown, as an AppError; unknown errors become `internal`. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof ConnectError) {
    return new AppError(fromConnect[err.code] ?? "internal", err.rawMessage, {}, { cause: err });
  }
  return new AppError("internal", "internal error", {}, { cause: err });
}

/** The JSON error body of the plain HTTP routes. */
export function httpErrorBody(err: AppError) {
  return {
    error: {
      code: err.code,
      message: err.message,
      ...(err.details.field ? { field: err.details.field } : {}),
      ...(err.details.reason ? { reason: err.details.reason } : {}),
      ...(err.details.retryAfterSeconds ? { retry_after_seconds: err.details.retryAfterSeconds } : {}),
    },
  };
}
