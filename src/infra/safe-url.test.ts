import { describe, expect, it } from "vitest";
import { withoutCredentials, withTimeout } from "./safe-url.js";

describe("withoutCredentials", () => {
  it("drops the user name and password and keeps where it points", () => {
    expect(withoutCredentials("redis://default:hunter2@cache.internal:6380/2")).toBe("redis://cache.internal:6380/2");
    expect(withoutCredentials("postgres://app:s3cret@db.internal:5432/attesto?sslmode=require")).toBe("postgres://db.internal:5432/attesto?sslmode=require");
  });

  it("redacts credentials passed as query parameters", () => {
    expect(withoutCredentials("postgres://db/attesto?password=s3cret")).toBe("postgres://db/attesto?password=%5Bredacted%5D");
  });

  it("never echoes text that is not a URL (it may be a secret pasted in the wrong place)", () => {
    expect(withoutCredentials("hunter2")).toBe("(not a URL)");
  });
});

describe("withTimeout", () => {
  it("rejects with the message when the promise is slower", async () => {
    await expect(withTimeout(new Promise(() => {}), 10, "too slow")).rejects.toThrow("too slow");
    await expect(withTimeout(Promise.resolve(1), 1000, "too slow")).resolves.toBe(1);
  });
});
