import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hashApiKey, looksLikeApiKey } from "./api-keys.js";

describe("API key shape and hash", () => {
  it("recognises atk_ followed by 43 base64url characters (256 bits), nothing else", () => {
    const key = `atk_${Buffer.alloc(32, 7).toString("base64url")}`;
    expect(key).toHaveLength(47);
    expect(looksLikeApiKey(key)).toBe(true);
    for (const other of [key.slice(0, -1), `${key}A`, key.replace("atk_", "atx_"), `atk_${"+".repeat(43)}`, ` ${key}`, ""]) {
      expect(looksLikeApiKey(other), other).toBe(false);
    }
  });

  it("stores the SHA-256 of the key in hex, never the key", () => {
    const key = `atk_${"A".repeat(43)}`;
    expect(hashApiKey(key)).toBe(createHash("sha256").update(key).digest("hex"));
    expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(key)).not.toContain(key);
  });
});
