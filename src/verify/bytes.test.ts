import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { concatBytes, equalBytes, fromBase64, fromBase64Portable, fromHex, fromUtf8, toBase64, toHex, utf8 } from "./bytes.js";

describe("verify/bytes: the same in Node and in a browser", () => {
  it("encodes UTF-8 as TextEncoder does, ASCII or not, and decodes strictly", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (text) => {
        expect(utf8(text)).toEqual(new TextEncoder().encode(text));
      }),
    );
    expect(fromUtf8(utf8("héllo ✓"))).toBe("héllo ✓");
    expect(() => fromUtf8(new Uint8Array([0xff, 0xfe]))).toThrow();
  });

  it("compares and joins bytes", () => {
    expect(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(equalBytes(new Uint8Array([1]), new Uint8Array([1, 0]))).toBe(false);
    expect(concatBytes(new Uint8Array([1]), new Uint8Array(), new Uint8Array([2, 3]))).toEqual(new Uint8Array([1, 2, 3]));
  });

  it("round-trips hex, lowercase only", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(fromHex(toHex(bytes))).toEqual(bytes);
      }),
    );
    expect(toHex(new Uint8Array([0, 15, 255]))).toBe("000fff");
    for (const bad of ["0", "0g", "FF", "0x00", " 00", "00 "]) expect(fromHex(bad), bad).toBeUndefined();
    expect(fromHex("")).toEqual(new Uint8Array());
  });

  it("round-trips standard padded base64 and refuses every non-canonical form", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(fromBase64(toBase64(bytes))).toEqual(bytes);
      }),
    );
    expect(toBase64(utf8("hi?"))).toBe("aGk/");
    // Unpadded, URL-safe, stray characters, and non-zero padding bits ("aGk=" and "aGl=" would name one value).
    for (const bad of ["aGk", "aG-_", "aGk/\n", "a===", "aGl=", "aGk=="]) expect(fromBase64(bad), bad).toBeUndefined();
    expect(fromBase64("aGk=")).toEqual(utf8("hi"));
  });

  it("decodes long base64 natively under Node with the portable decoder's answers, canonical forms only", () => {
    const long = toBase64(new Uint8Array(300).map((_, i) => i));
    // Near-misses of a long canonical text: each of the portable decoder's refusals, where Node's own decoder would accept.
    const noisy = fc
      .tuple(fc.uint8Array({ minLength: 48, maxLength: 400 }), fc.nat(), fc.constantFrom("", "=", "==", "===", " ", "\t", "\n", "-", "_", "!", "é", "\u0000", "A", "AA", "AAA=", "Ag==", "Aw=", "==AA"))
      .map(([bytes, at, insert]) => {
        const text = toBase64(bytes);
        const i = at % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(i);
      });
    fc.assert(
      fc.property(fc.oneof(noisy, fc.string({ unit: fc.constantFrom(..."AQgw+/=-_ \n"), minLength: 64, maxLength: 200 })), (text) => {
        expect(fromBase64(text)).toEqual(fromBase64Portable(text));
      }),
      { numRuns: 3000 },
    );
    expect(fromBase64(long)).toEqual(fromBase64Portable(long));
    for (const bad of [long.slice(0, -1), `${long}=`, `${long.slice(0, -4)}AAB=`, long.replace("/", "_"), `${long.slice(0, 80)}\n${long.slice(80)}`]) {
      expect(fromBase64(bad), bad.slice(-8)).toBeUndefined();
    }
  });
});
