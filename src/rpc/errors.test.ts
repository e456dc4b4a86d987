import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/ts/google/rpc/error_details_pb.js";
import { AppError, invalidArgument, type ErrorCode } from "../errors.js";
import { CreateStreamRequestSchema } from "../../gen/ts/attesto/v1/proofstream_pb.js";
import { describeInputError, ERROR_DOMAIN, toConnectError } from "./errors.js";

describe("toConnectError", () => {
  it.each<[ErrorCode, Code]>([
    ["invalid_argument", Code.InvalidArgument],
    ["replay_conflict", Code.AlreadyExists],
    ["payload_too_large", Code.ResourceExhausted],
    ["resource_exhausted", Code.ResourceExhausted],
    ["unavailable", Code.Unavailable],
    ["failed_precondition", Code.FailedPrecondition],
  ])("maps %s to Connect code %i", (code, connect) => {
    expect(toConnectError(new AppError(code, "m")).code).toBe(connect);
  });

  it("carries the reason (catalogued, else the code's default) and the field as google.rpc.ErrorInfo", () => {
    const field = toConnectError(invalidArgument("source_ref", "is required"));
    expect(field.findDetails(ErrorInfoSchema)).toMatchObject([{ reason: "FIELD_INVALID", domain: ERROR_DOMAIN, metadata: { field: "source_ref" } }]);
    const reason = toConnectError(new AppError("replay_conflict", "x", { reason: "REPLAY_CONFLICT" }));
    expect(reason.findDetails(ErrorInfoSchema)[0]!.reason).toBe("REPLAY_CONFLICT");
    const tooLarge = toConnectError(new AppError("payload_too_large", "body exceeds 1048576 bytes"));
    expect(tooLarge.findDetails(ErrorInfoSchema)[0]!.reason).toBe("PAYLOAD_TOO_LARGE");
  });

  it("adds google.rpc.RetryInfo only when a retry time is known", () => {
    const limited = toConnectError(new AppError("resource_exhausted", "slow down", { reason: "RATE_LIMITED", retryAfterSeconds: 3 }));
    expect(limited.findDetails(RetryInfoSchema)[0]!.retryDelay!.seconds).toBe(3n);
    expect(toConnectError(new AppError("unavailable", "down")).findDetails(RetryInfoSchema)).toEqual([]);
  });

  it("tells nothing about an internal error", () => {
    const internal = toConnectError(new AppError("internal", "internal error", {}, { cause: new Error("secret detail") }));
    expect(internal.code).toBe(Code.Internal);
    expect(internal.details).toEqual([]);
    expect(internal.rawMessage).toBe("internal error");
  });
});

describe("describeInputError", () => {
  const info = (err: ConnectError) => err.findDetails(ErrorInfoSchema)[0];
  const parseError = (message: string, code = Code.InvalidArgument) => new ConnectError(message, code);

  it("names the unknown key, the field of a wrong value, else the body, with reason BODY_INVALID", () => {
    const unknown = describeInputError(parseError('cannot decode message attesto.v1.CreateStreamRequest from JSON: key "nmae" is unknown'), CreateStreamRequestSchema, false);
    expect([unknown.code, unknown.rawMessage]).toEqual([Code.InvalidArgument, "nmae: unknown field"]);
    expect(info(unknown)).toMatchObject({ reason: "BODY_INVALID", domain: ERROR_DOMAIN, metadata: { field: "nmae" } });
    const wrong = describeInputError(parseError("cannot decode field attesto.v1.CreateStreamRequest.name from JSON: expected string, got 5"), CreateStreamRequestSchema, false);
    expect(wrong.rawMessage).toBe("name: expected string, got 5");
    expect(info(wrong)!.metadata).toEqual({ field: "name" });
    const malformed = describeInputError(parseError("cannot decode message attesto.v1.CreateStreamRequest from JSON: Unexpected end of JSON input"), CreateStreamRequestSchema, false);
    expect(malformed.rawMessage).toBe("body: is not valid JSON for attesto.v1.CreateStreamRequest (Unexpected end of JSON input)");
    const nested = describeInputError(parseError("cannot decode message google.protobuf.Timestamp from JSON: invalid RFC 3339 string"), CreateStreamRequestSchema, false);
    expect(info(nested)!.metadata).toEqual({ field: "body" });
    const binary = describeInputError(parseError("parse binary: premature EOF"), CreateStreamRequestSchema, true);
    expect(binary.rawMessage).toBe("body: is not a valid attesto.v1.CreateStreamRequest in protobuf binary (parse binary: premature EOF)");
  });

  it("gives a body over the read limit PAYLOAD_TOO_LARGE, and leaves errors with details alone", () => {
    const tooLarge = describeInputError(parseError("message size 2000 is larger than configured readMaxBytes 1000", Code.ResourceExhausted), CreateStreamRequestSchema, false);
    expect([tooLarge.code, info(tooLarge)!.reason]).toEqual([Code.ResourceExhausted, "PAYLOAD_TOO_LARGE"]);
    const described = toConnectError(invalidArgument("name", "is required"));
    expect(describeInputError(described, CreateStreamRequestSchema, false)).toBe(described);
  });
});
