import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isHex64 } from "./bundle-document.js";

describe("isHex64", () => {
  const HEX64 = /^[0-9a-f]{64}$/;
  it("answers as /^[0-9a-f]{64}$/ does", () => {
    const near = fc.array(fc.constantFrom(..."0123456789abcdefABCDEFg/:`@\n é"), { minLength: 62, maxLength: 66 }).map((c) => c.join(""));
    fc.assert(
      fc.property(fc.oneof(near, fc.string(), fc.stringMatching(/^[0-9a-f]{64}$/)), (s) => {
        expect(isHex64(s)).toBe(HEX64.test(s));
      }),
      { numRuns: 5000 },
    );
    expect(isHex64("0123456789abcdef".repeat(4))).toBe(true);
    expect(isHex64("0123456789abcdef".repeat(4) + "\n")).toBe(false);
    expect(isHex64("0123456789ABCDEF".repeat(4))).toBe(false);
  });

  it("is false for what is not a string", () => {
    for (const v of [undefined, null, 64, ["a".repeat(64)], { length: 64 }]) expect(isHex64(v)).toBe(false);
  });
});
