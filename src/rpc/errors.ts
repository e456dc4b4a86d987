import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/ts/google/rpc/error_details_pb.js";
import type { AppError, ErrorCode } from "../errors.js";

const connectCodes: Record<ErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  replay_conflict: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  // The Connect protocol has no "too large" code; the message carries the limit.
  payload_too_large: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
};

export const connectCodeOf = (code: ErrorCode): Code => connectCodes[code];

/**
 * A domain error as the Connect error the client sees: its message, and a
 * retry hint as the standard google.rpc.RetryInfo detail. The cause stays
 * on the server.
 */
export function toConnectError(err: AppError): ConnectError {
  const retryAfter = err.details.retryAfterSeconds;
  const details = retryAfter ? [{ desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(retryAfter) } } }] : undefined;
  return new ConnectError(err.message, connectCodes[err.code], undefined, details, err);
}
