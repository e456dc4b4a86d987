import { describe, expect, it } from "vitest";
import { AppError, invalidArgument, notFound } from "../errors.js";
import { renderField, type FieldNames } from "./fields.js";

const rest: FieldNames = [
  ["event_types.values", "eventTypes"],
  ["event_types", "eventTypes"],
  ["page_size", "pageSize"],
];

describe("renderField", () => {
  it.each([
    ["event_types", "eventTypes", "eventTypes: is required"],
    ["event_types[2]", "eventTypes[2]", "eventTypes[2]: is required"],
    ["event_types.values[0]", "eventTypes[0]", "eventTypes[0]: is required"],
    ["page_size", "pageSize", "pageSize: is required"],
  ])("renames %s to %s in the field and the message", (contract, edge, message) => {
    const out = renderField(invalidArgument(contract, "is required"), rest) as AppError;
    expect(out).toBeInstanceOf(AppError);
    expect(out.details.field).toBe(edge);
    expect(out.message).toBe(message);
    expect(out.code).toBe("invalid_argument");
  });

  it("leaves a field no pair names, a field-less error and other errors as they are", () => {
    const other = invalidArgument("event_typesx", "bad");
    expect(renderField(other, rest)).toBe(other);
    const missing = notFound("subscription");
    expect(renderField(missing, rest)).toBe(missing);
    const plain = new Error("boom");
    expect(renderField(plain, rest)).toBe(plain);
  });

  it("keeps the reason and retry details", () => {
    const err = new AppError("invalid_argument", "event_types: x", { field: "event_types", reason: "RATE_LIMITED", retryAfterSeconds: 3 });
    const out = renderField(err, rest) as AppError;
    expect(out.details).toEqual({ field: "eventTypes", reason: "RATE_LIMITED", retryAfterSeconds: 3 });
  });
});
