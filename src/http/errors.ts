import type { Context } from "hono";
import { reasonOf, type AppError, type ErrorCode } from "../errors.js";

const httpStatuses: Record<ErrorCode, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  replay_conflict: 409,
  failed_precondition: 412,
  aborted: 409,
  resource_exhausted: 429,
  payload_too_large: 413,
  unavailable: 503,
  unimplemented: 501,
  internal: 500,
};

export const httpStatusOf = (code: ErrorCode): number => httpStatuses[code];

/** The JSON error body of the plain HTTP routes. */
export function httpErrorBody(err: AppError) {
  const reason = reasonOf(err);
  return {
    error: {
      code: err.code,
      message: err.message,
      ...(err.details.field ? { field: err.details.field } : {}),
      ...(reason ? { reason } : {}),
      ...(err.details.retryAfterSeconds ? { retry_after_seconds: err.details.retryAfterSeconds } : {}),
    },
  };
}

/** Answers an error the one way the plain HTTP routes do. */
export function errorResponse(c: Context, err: AppError) {
  if (err.details.retryAfterSeconds) c.header("Retry-After", String(err.details.retryAfterSeconds));
  return c.json(httpErrorBody(err), httpStatusOf(err.code) as 400);
}
