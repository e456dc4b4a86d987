import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/ts/google/rpc/error_details_pb.js";
import type { DescMessage } from "@bufbuild/protobuf";
import { AppError, bodyInvalid, reasonOf, type ErrorCode } from "../errors.js";

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

const UNKNOWN_KEY = /^cannot decode message (\S+) from JSON: key "(.*)" is unknown$/s;
const BAD_FIELD = /^cannot decode field (\S+) from JSON: (.*)$/s;
const BAD_MESSAGE = /^cannot decode message (\S+) from JSON: (.*)$/s;

/**
 * A request connect could not parse (malformed JSON or protobuf, an unknown
 * JSON field, a JSON value of the wrong type, a body over the read limit),
 * as the error the other refusals are: INVALID_ARGUMENT with reason
 * BODY_INVALID and the field (the unknown key, the field whose value is
 * wrong, else `body`) first in the message and in ErrorInfo; RESOURCE_EXHAUSTED
 * with PAYLOAD_TOO_LARGE. Installed as connect's `jsonOptions.describeInputError`
 * (patches/@connectrpc+connect+2.2.0.patch), so both connect-node and the
 * fast path answer it, in every protocol.
 */
export function describeInputError(error: ConnectError, input: DescMessage, binary: boolean): ConnectError {
  if (error.details.length > 0) return error;
  if (error.code === Code.ResourceExhausted) return toConnectError(new AppError("payload_too_large", error.rawMessage, { reason: "PAYLOAD_TOO_LARGE" }));
  if (error.code !== Code.InvalidArgument) return error;
  const refused = (field: string, problem: string) => toConnectError(bodyInvalid(field, problem));
  if (binary) return refused("body", `is not a valid ${input.typeName} in protobuf binary (${error.rawMessage})`);
  const message = error.rawMessage;
  const unknown = UNKNOWN_KEY.exec(message);
  if (unknown) return refused(unknown[2]!, unknown[1] === input.typeName ? "unknown field" : `unknown field of ${unknown[1]}`);
  const field = BAD_FIELD.exec(message);
  if (field) return refused(field[1]!.slice(field[1]!.lastIndexOf(".") + 1), field[2]!);
  const bad = BAD_MESSAGE.exec(message);
  if (bad && bad[1] === input.typeName) return refused("body", `is not valid JSON for ${input.typeName} (${bad[2]})`);
  if (bad) return refused("body", `a ${bad[1]} is malformed (${bad[2]})`);
  return refused("body", message);
}
