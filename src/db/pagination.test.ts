import { describe, expect, it } from "vitest";
import { pageOf, pageWindow } from "./pagination.js";

describe("keyset pagination", () => {
  it.each([
    [{}, 50],
    [{ pageSize: 0 }, 50],
    [{ pageSize: -3 }, 50],
    [{ pageSize: 7 }, 7],
    [{ pageSize: 10_000 }, 500],
  ])("page size of %j is %i, fetching one more", (req, limit) => {
    expect(pageWindow(req)).toEqual({ limit, fetch: limit + 1, after: undefined });
  });

  it("takes the default and the largest size a call allows", () => {
    expect(pageWindow({}, { size: 20, max: 100 }).limit).toBe(20);
    expect(pageWindow({ pageSize: 1000 }, { size: 20, max: 100 }).limit).toBe(100);
  });

  it("continues after the last row of the previous page", () => {
    const rows = ["a", "b", "c", "d"].map((id) => ({ id }));
    const first = pageOf(rows, 3, (r) => r.id);
    expect(first.items.map((r) => r.id)).toEqual(["a", "b", "c"]);
    expect(pageWindow({ pageToken: first.nextPageToken }).after).toBe("c");
    expect(pageOf(rows.slice(3), 3, (r) => r.id)).toEqual({ items: [{ id: "d" }], nextPageToken: "" });
  });

  it("keys by numbers too, and maps the rows it returns", () => {
    const page = pageOf([{ seq: 1 }, { seq: 2 }, { seq: 3 }], 2, (r) => r.seq, (r) => r.seq * 10);
    expect(page.items).toEqual([10, 20]);
    expect(pageWindow({ pageToken: page.nextPageToken }).after).toBe("2");
  });

  it("refuses a token it did not issue: not base64url, not UTF-8, or holding NUL", () => {
    const token = (key: string) => Buffer.from(key, "utf8").toString("base64url");
    expect(pageWindow({ pageToken: token("2026-01-01T00:00:00.000Z|ten_1") }).after).toBe("2026-01-01T00:00:00.000Z|ten_1");
    for (const bad of ["-----BEGIN PRIVATE KEY-----\nAAAA", token("a\u0000b"), Buffer.from([0xff, 0xfe]).toString("base64url"), "%%%"]) {
      expect(() => pageWindow({ pageToken: bad }), bad).toThrow(/^page_token: is not a page token this service issued$/);
    }
  });
});

