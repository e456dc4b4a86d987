import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { checkEventTypes } from "./subscriptions.js";

describe("checkEventTypes", () => {
  it("keeps known types once, in their order", () => {
    expect(checkEventTypes(["batch.failed", "batch.confirmed", "batch.failed"])).toEqual(["batch.failed", "batch.confirmed"]);
  });

  it.each([
    [[], "event_types", "event_types: is required"],
    [["batch.failed", "nope"], "event_types[1]", 'event_types[1]: unknown event type "nope"'],
  ])("refuses %j naming the contract field", (values, field, message) => {
    let caught: unknown;
    try {
      checkEventTypes(values);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AppError);
    expect((caught as AppError).details.field).toBe(field);
    expect((caught as AppError).message).toBe(message);
  });
});
