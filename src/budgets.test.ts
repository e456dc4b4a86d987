import { describe, expect, it } from "vitest";
import { parseLimit, parseTenantLimits } from "./budgets.js";

describe("budget syntax", () => {
  it("parses budgets and refuses malformed ones", () => {
    expect(parseLimit("100/1s")).toEqual({ points: 100, durationSeconds: 1 });
    expect(parseLimit(" 6000 / 1m ")).toEqual({ points: 6000, durationSeconds: 60 });
    expect(parseLimit("5/2h")).toEqual({ points: 5, durationSeconds: 7200 });
    for (const bad of ["", "100", "100/s", "0/1s", "10/0s", "10/25h", "-1/1s", "1.5/1s", "10/1d"]) {
      expect(() => parseLimit(bad), bad).toThrow(/limit|between/);
    }
  });

  it("parses per-tenant overrides and names the bad part", () => {
    expect(parseTenantLimits("")).toEqual({});
    expect(parseTenantLimits("tnt_a:verification=10/1s, reads=50/1m; tnt_b:ingest=5000/1s")).toEqual({
      tnt_a: { verification: { points: 10, durationSeconds: 1 }, reads: { points: 50, durationSeconds: 60 } },
      tnt_b: { ingest: { points: 5000, durationSeconds: 1 } },
    });
    expect(() => parseTenantLimits("verification=10/1s")).toThrow(/tenant id/);
    expect(() => parseTenantLimits("tnt_a:writes=10/1s")).toThrow(/verification, ingest, reads, default/);
    expect(() => parseTenantLimits("tnt_a:reads=lots")).toThrow(/not a limit/);
  });
});
