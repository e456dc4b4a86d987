import { describe, expect, it } from "vitest";
import { utf8Encoder } from "./utf8-encoder.js";

describe("utf8Encoder", () => {
  it("gives TextEncoder's bytes: ASCII, two-byte text, astral characters and lone surrogates", () => {
    const encoder = new TextEncoder();
    const samples = ["", "{}", '{"note":"attesto.example\\n— attesto.example AbC=\\n"}', "ÿ€😀", "a\uD800b", "\uDFFFz", "x".repeat(5000) + "é"];
    for (const text of samples) expect(new Uint8Array(utf8Encoder.encode(text))).toEqual(encoder.encode(text));
    expect(utf8Encoder.encode()).toHaveLength(0);
  });
});
