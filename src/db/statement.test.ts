import { describe, expect, it } from "vitest";
import type { Db } from "./db.js";
import { statement } from "./statement.js";

describe("statement", () => {
  it("builds once per handle, and again for another handle", () => {
    let builds = 0;
    const query = statement((db) => ({ db, n: ++builds }));
    const [a, b] = [{} as Db, {} as Db];
    expect(query(a)).toBe(query(a));
    expect(query(b)).not.toBe(query(a));
    expect(query(b).db).toBe(b);
    expect(builds).toBe(2);
  });
});
