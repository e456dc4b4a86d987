import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { maskedFields } from "./update-mask.js";

const updatable = ["name", "url", "event_types"] as const;

describe("update masks", () => {
  it("returns the named fields", () => {
    expect(maskedFields(["url", "event_types"], updatable)).toEqual(new Set(["url", "event_types"]));
  });

  it.each([
    [undefined, /must name the fields/],
    [[], /must name the fields/],
    [["nmae"], /cannot change "nmae"/],
    [["eventTypes"], /cannot change "eventTypes"/],
    [["name", "name"], /names "name" twice/],
  ])("refuses %j naming update_mask", (paths, message) => {
    let thrown: unknown;
    try {
      maskedFields(paths, updatable);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).details.field).toBe("update_mask");
    expect((thrown as AppError).message).toMatch(message);
  });
});
