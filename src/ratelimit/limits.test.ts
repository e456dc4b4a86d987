import { describe, expect, it } from "vitest";
import { parseTenantLimits } from "../budgets.js";
import { limitFor, retryAfterSeconds } from "./limits.js";

describe("limitFor", () => {
  const classes = {
    verification: { points: 3, durationSeconds: 60 },
    ingest: { points: 100, durationSeconds: 60 },
    reads: { points: 100, durationSeconds: 60 },
    default: { points: 100, durationSeconds: 60 },
  };
  it("takes the tenant's override of a class, else the class default", () => {
    const tenants = parseTenantLimits("tnt_a:verification=1/1s");
    expect(limitFor(classes, tenants, "verification", "tnt_a")).toEqual({ points: 1, durationSeconds: 1 });
    expect(limitFor(classes, tenants, "reads", "tnt_a")).toEqual(classes.reads);
    expect(limitFor(classes, tenants, "verification", "tnt_b")).toEqual(classes.verification);
    expect(limitFor(classes, tenants, "verification", undefined)).toEqual(classes.verification);
  });
});

describe("retryAfterSeconds", () => {
  it("rounds the wait up to whole seconds, at least one", () => {
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(1000)).toBe(1);
    expect(retryAfterSeconds(1001)).toBe(2);
    expect(retryAfterSeconds(59_400)).toBe(60);
  });
});
