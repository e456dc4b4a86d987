import { describe, expect, it } from "vitest";
import { nodeHeadersOf, webHeadersOf } from "./node-headers.js";

describe("node ↔ Fetch headers", () => {
  it("drops HTTP/2 pseudo-headers and appends repeated values", () => {
    const h = webHeadersOf({ ":path": "/x", ":authority": "a", "content-type": "application/json", "set-cookie": ["a=1", "b=2"] });
    expect([...new Set(h.keys())]).toEqual(["content-type", "set-cookie"]);
    expect(h.getSetCookie()).toEqual(["a=1", "b=2"]);
  });

  it("writes lower-case names, sorted, Set-Cookie kept apart", () => {
    const h = new Headers([
      ["X-B", "2"],
      ["Content-Type", "application/json"],
      ["Set-Cookie", "a=1"],
      ["Set-Cookie", "b=2"],
    ]);
    const out = nodeHeadersOf(h);
    expect(Object.keys(out)).toEqual(["content-type", "set-cookie", "x-b"]);
    expect(out["set-cookie"]).toEqual(["a=1", "b=2"]);
  });
});
