import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { uint8ArrayToBase64 } from "./uint8array-to-base64.js";

/** RFC 4648 by the letter: 6 bits at a time, "=" to a multiple of 4 unless omitted. */
function reference(bytes: Uint8Array, alphabet: "base64" | "base64url", omitPadding: boolean): string {
  const table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + (alphabet === "base64" ? "+/" : "-_");
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let c = 0; c < chars; c++) out += table[(n >> (18 - 6 * c)) & 63];
  }
  return omitPadding ? out : out + "=".repeat((4 - (out.length % 4)) % 4);
}

const encode = (bytes: Uint8Array, options?: Parameters<typeof uint8ArrayToBase64>[0]) => uint8ArrayToBase64.call(bytes, options);

describe("Uint8Array.prototype.toBase64 on Node 24 (Buffer's encoder)", () => {
  it("gives RFC 4648's test vectors", () => {
    const vectors = { "": "", f: "Zg==", fo: "Zm8=", foo: "Zm9v", foob: "Zm9vYg==", fooba: "Zm9vYmE=", foobar: "Zm9vYmFy" };
    for (const [text, base64] of Object.entries(vectors)) expect(encode(new TextEncoder().encode(text))).toBe(base64);
  });

  it("matches the standard's output for every alphabet and padding, on views into larger buffers", () => {
    for (let length = 0; length < 70; length++) {
      const backing = randomBytes(length + 16);
      const view = new Uint8Array(backing.buffer, backing.byteOffset + 5, length);
      for (const alphabet of ["base64", "base64url"] as const) {
        for (const omitPadding of [false, true]) expect(encode(view, { alphabet, omitPadding })).toBe(reference(view, alphabet, omitPadding));
      }
      expect(encode(view)).toBe(reference(view, "base64", false));
    }
  });

  it("is what protobuf-es's own encoder gives, for every encoding it asks for", () => {
    const bytes = randomBytes(301);
    expect(encode(bytes, { alphabet: "base64", omitPadding: false })).toBe(reference(bytes, "base64", false));
    // base64Encode is protobuf-es's loop, or this very method once installed: both must be the standard's.
    for (const [encoding, alphabet, omitPadding] of [
      ["std", "base64", false],
      ["std_raw", "base64", true],
      ["url", "base64url", true],
    ] as const) {
      expect(base64Encode(bytes, encoding)).toBe(reference(bytes, alphabet, omitPadding));
    }
  });

  it("refuses what the standard refuses", () => {
    expect(() => uint8ArrayToBase64.call(new Uint16Array(2) as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => encode(new Uint8Array(1), { alphabet: "hex" })).toThrow(TypeError);
    expect(() => encode(new Uint8Array(1), null as never)).toThrow(TypeError);
    const detached = new Uint8Array(new ArrayBuffer(4));
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    expect(() => encode(detached)).toThrow(TypeError);
  });

  it("is installed in this process (vitest's setup, as cli/main.ts for the service) unless the runtime has its own", () => {
    expect(typeof (new Uint8Array(0) as { toBase64?: unknown }).toBase64).toBe("function");
    expect((new Uint8Array([251, 255]) as unknown as { toBase64(o?: object): string }).toBase64({ alphabet: "base64url" })).toBe("-_8=");
  });
});
