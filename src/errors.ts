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
  | "aborted"
  | "resource_exhausted"
  | "payload_too_large"
  | "unavailable"
  | "unimplemented"
  | "internal";

/**
 * The contract's reason catalogue (`attesto.v1.ErrorReason` in
 * proto/attesto/v1/errors.proto, value names without the prefix); a unit
 * spec holds the two equal.
 */
export const ERROR_REASONS = [
  "FIELD_INVALID",
  "BODY_INVALID",
  "PAGE_TOKEN_INVALID",
  "KEY_OUTSIDE_PREFIX",
  "CREDENTIALS_MISSING",
  "API_KEY_INVALID",
  "OPERATOR_TOKEN_INVALID",
  "SIGNATURE_INVALID",
  "NOTIFICATION_UNVERIFIED",
  "PUSH_TOKEN_MISSING",
  "PUSH_TOKEN_INVALID",
  "PUSH_NOT_CONFIGURED",
  "TENANT_KEY_REQUIRED",
  "OPERATOR_TOKEN_REQUIRED",
  "OPERATOR_DISABLED",
  "RESOURCE_NOT_FOUND",
  "ROUTE_NOT_FOUND",
  "CONNECTOR_NOT_FOUND",
  "OBJECT_NOT_FOUND",
  "OBJECT_VERSION_NOT_FOUND",
  "ANCHOR_NOT_FOUND",
  "REPLAY_CONFLICT",
  "REQUEST_ID_REUSED",
  "RESOURCE_EXISTS",
  "TENANT_DEACTIVATED",
  "STREAM_EMPTY",
  "NOT_IN_CHECKPOINT",
  "RANGE_BEYOND_STREAM",
  "BUNDLE_NOT_READY",
  "STORE_CREDENTIALS_MISSING",
  "STORE_CREDENTIALS_REJECTED",
  "DELIVERY_PENDING",
  "SUBSCRIPTION_DISABLED",
  "SUBSCRIPTION_DELETED",
  "CONNECTOR_REVOKED",
  "CONNECTOR_KIND_MISMATCH",
  "OBJECT_STORE_DENIED",
  "OBJECT_STORE_REFUSED",
  "ANCHOR_NOT_CONFIRMED",
  "ANCHORING_OFF",
  "REFERENCE_MISSING",
  "ETAG_MISMATCH",
  "RATE_LIMITED",
  "PAYLOAD_TOO_LARGE",
  "STORE_RATE_LIMITED",
  "DATABASE_UNAVAILABLE",
  "QUEUE_UNAVAILABLE",
  "STORE_UNAVAILABLE",
  "REVOCATION_CHECK_UNAVAILABLE",
  "GOOGLE_KEYS_UNAVAILABLE",
  "OBJECT_STORE_UNAVAILABLE",
  "DEADLINE_EXCEEDED",
  "DATABASE_RETRY",
  "SERVER_BUSY",
  "NOT_IMPLEMENTED",
] as const;
export type ErrorReason = (typeof ERROR_REASONS)[number];

/** The reason an error of a code carries when its thrower named none. */
const DEFAULT_REASONS: Record<ErrorCode, ErrorReason | undefined> = {
  invalid_argument: "FIELD_INVALID",
  unauthenticated: "API_KEY_INVALID",
  permission_denied: "TENANT_KEY_REQUIRED",
  not_found: "RESOURCE_NOT_FOUND",
  already_exists: "RESOURCE_EXISTS",
  replay_conflict: "REPLAY_CONFLICT",
  failed_precondition: "REFERENCE_MISSING",
  aborted: "ETAG_MISMATCH",
  resource_exhausted: "RATE_LIMITED",
  payload_too_large: "PAYLOAD_TOO_LARGE",
  unavailable: "DATABASE_UNAVAILABLE",
  unimplemented: "NOT_IMPLEMENTED",
  internal: undefined,
};

/** The error's reason as the edges send it: its own, else its code's default (none for internal errors). */
export const reasonOf = (err: AppError): ErrorReason | undefined => err.details.reason ?? DEFAULT_REASONS[err.code];

export interface ErrorDetails {
  /** The offending request field, by its contract path (`event_types[1]`, `page_size`). */
  field?: string;
  /** The catalogued machine-readable reason; the code's default when unset. */
  reason?: ErrorReason;
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

/** The body is not a message of its RPC or route (malformed, not an object, an unknown field): reason BODY_INVALID, not FIELD_INVALID. */
export const bodyInvalid = (field: string, problem: string) => new AppError("invalid_argument", `${field}: ${problem}`, { field, reason: "BODY_INVALID" });

/** A JSON body names a field its RPC or route does not define (a typo, most often). */
export const unknownField = (field: string) => bodyInvalid(field, "unknown field");

export const notFound = (what: string) => new AppError("not_found", `${what} not found`);

/** Anything thrown, as an AppError; errors of unknown kind become `internal` (their text is never shown). */
export function toAppError(err: unknown): AppError {
  return err instanceof AppError ? err : new AppError("internal", "internal error", {}, { cause: err });
}
