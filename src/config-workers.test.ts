import { describe, expect, it } from "vitest";
import { defaultWorkers } from "./config.js";

describe("defaultWorkers", () => {
  it("serves in one process up to 2 cores, then one per core less one for the database beside it", () => {
    expect([1, 2, 3, 4, 8, 64].map(defaultWorkers)).toEqual([1, 1, 2, 3, 7, 63]);
  });
});
