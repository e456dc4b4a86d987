import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/ts/google/rpc/error_details_pb.js";
import { reasonOf, type AppError, type ErrorCode } from "../errors.js";

const connectCodes: Record<ErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  replay_conflict: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  aborted: Code.Aborted,
  resource_exhausted: Code.ResourceExhausted,
  // The Connect protocol has no "too large" code; the message carries the limit.
  payload_too_large: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
};

/** The domain of Attesto's error reasons (google.rpc.ErrorInfo.domain). */
export const ERROR_DOMAIN = "attesto.eu";

/**
 * A domain error as the Connect error the client sees: its message, a
 * google.rpc.ErrorInfo detail (the catalogued reason —
 * and the offending field) and, when a retry time is known, a
 * google.rpc.RetryInfo detail. An internal error carries neither: nothing
 * about it reaches the caller. The cause stays on the server.
 */
export function toConnectError(err: AppError): ConnectError {
  const details: ConstructorParameters<typeof ConnectError>[3] = [];
  const reason = reasonOf(err);
  if (reason) {
    const metadata: Record<string, string> = err.details.field ? { field: err.details.field } : {};
    details.push({ desc: ErrorInfoSchema, value: { reason, domain: ERROR_DOMAIN, metadata } });
  }
  const retryAfter = err.details.retryAfterSeconds;
  if (retryAfter) details.push({ desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(retryAfter) } } });
  // Also as the HTTP header, for clients and proxies that read no error details.
  const metadata = retryAfter ? new Headers({ "Retry-After": String(retryAfter) }) : undefined;
  return new ConnectError(err.message, connectCodes[err.code], metadata, details, err);
}
