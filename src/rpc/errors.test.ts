import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/ts/google/rpc/error_details_pb.js";
import { AppError, invalidArgument, type ErrorCode } from "../errors.js";
import { ERROR_DOMAIN, toConnectError } from "./errors.js";

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
