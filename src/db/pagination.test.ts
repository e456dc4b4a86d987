import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { pageOf, pageWindow } from "./pagination.js";

describe("keyset pagination", () => {
  it.each([
    [{}, 50],
    [{ pageSize: 0 }, 50],
    [{ pageSize: -3 }, 50],
    [{ pageSize: 7 }, 7],
    [{ pageSize: 10_000 }, 500],
  ])("page size of %j is %i, fetching one more", (req, limit) => {
    expect(pageWindow(req)).toMatchObject({ limit, fetch: limit + 1, after: undefined });
  });

  it("takes the default and the largest size a call allows", () => {
    expect(pageWindow({}, { size: 20, max: 100 }).limit).toBe(20);
    expect(pageWindow({ pageSize: 1000 }, { size: 20, max: 100 }).limit).toBe(100);
  });

  it("continues after the last row of the previous page", () => {
    const rows = ["a", "b", "c", "d"].map((id) => ({ id }));
    const first = pageOf(rows, pageWindow({ pageSize: 3 }), (r) => r.id);
    expect(first.items.map((r) => r.id)).toEqual(["a", "b", "c"]);
    const second = pageWindow({ pageSize: 3, pageToken: first.nextPageToken });
    expect(second.after).toBe("c");
    expect(pageOf(rows.slice(3), second, (r) => r.id)).toEqual({ items: [{ id: "d" }], nextPageToken: "" });
  });

  it("keys by numbers too, and maps the rows it returns", () => {
    const page = pageOf(
      [{ seq: 1 }, { seq: 2 }, { seq: 3 }],
      pageWindow({ pageSize: 2 }),
      (r) => r.seq,
      (r) => r.seq * 10,
    );
    expect(page.items).toEqual([10, 20]);
    expect(pageWindow({ pageToken: page.nextPageToken }).after).toBe("2");
  });

  it("binds a token to the request's filters", () => {
    const page = pageOf([{ id: "a" }, { id: "b" }], pageWindow({ pageSize: 1, includeRevoked: true } as object), (r) => r.id);
    expect(pageWindow({ pageToken: page.nextPageToken, includeRevoked: true } as object).after).toBe("a");
    const refused = (() => {
      try {
        pageWindow({ pageToken: page.nextPageToken }, { filter: { includeRevoked: false } });
      } catch (err) {
        return err;
      }
    })();
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).details).toMatchObject({ field: "page_token", reason: "PAGE_TOKEN_INVALID" });
  });

  it.each(["garbage!", "bm90LWEtdG9rZW4", Buffer.from("zzzzzzzzzzz.a").toString("base64url"), "-----BEGIN PRIVATE KEY-----\nAAAA", Buffer.from([0xff, 0xfe]).toString("base64url"), "%%%"])(
    "refuses a token it did not make: %j",
    (pageToken) => {
      expect(() => pageWindow({ pageToken })).toThrow(/^page_token: (is not a token this API made|was made for a request with other fields)/);
    },
  );

  it("refuses a token holding what the database refuses (NUL), even when it round-trips", () => {
    const fingerprint = pageWindow({}).fingerprint;
    const pageToken = Buffer.from(`${fingerprint}.a\u0000b`, "utf8").toString("base64url");
    expect(() => pageWindow({ pageToken })).toThrow(/^page_token: is not a token this API made$/);
  });
});
