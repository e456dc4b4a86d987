import { describe, expect, it } from "vitest";
import { ErrorReasonSchema } from "../gen/ts/attesto/v1/errors_pb.js";
import { AppError, ERROR_REASONS, reasonOf } from "./errors.js";

describe("the error reason catalogue", () => {
  it("is the contract's ErrorReason enum, value for value", () => {
    const contract = ErrorReasonSchema.values.filter((v) => v.number !== 0).map((v) => v.name.replace(/^ERROR_REASON_/, ""));
    expect([...ERROR_REASONS].sort()).toEqual(contract.sort());
  });

  it.each([
    ["invalid_argument", "FIELD_INVALID"],
    ["not_found", "RESOURCE_NOT_FOUND"],
    ["replay_conflict", "REPLAY_CONFLICT"],
    ["aborted", "ETAG_MISMATCH"],
    ["payload_too_large", "PAYLOAD_TOO_LARGE"],
    ["unavailable", "DATABASE_UNAVAILABLE"],
  ] as const)("gives %s without a reason of its own the reason %s", (code, reason) => {
    expect(reasonOf(new AppError(code, "x"))).toBe(reason);
  });

  it("keeps a thrower's own reason and gives internal errors none", () => {
    expect(reasonOf(new AppError("not_found", "x", { reason: "OBJECT_NOT_FOUND" }))).toBe("OBJECT_NOT_FOUND");
    expect(reasonOf(new AppError("internal", "x"))).toBeUndefined();
  });
});
