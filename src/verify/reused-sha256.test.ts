import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReusedSha256 } from "./merkle.js";

const nodeDigest = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());
const bytesOf = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (i * 131 + seed * 7 + (i >> 3)) & 0xff);

describe("ReusedSha256", () => {
  it("answers node:crypto's digest at every length to four blocks (each padding case: 55, 56, 63, 64 bytes of a block), one state reused throughout", () => {
    const sha = new ReusedSha256();
    const out = new Uint8Array(32);
    for (let length = 0; length <= 4 * 64 + 1; length++) {
      const data = bytesOf(length, length);
      sha.digestInto(data, out, 0);
      expect(out, `length ${length}`).toEqual(nodeDigest(data));
    }
  });

  it("hashes a range given as a view, and writes the digest at the offset asked, leaving the bytes around it", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(), fc.nat(), fc.nat({ max: 64 }), (data, a, b, at) => {
        const from = data.length === 0 ? 0 : a % (data.length + 1);
        const to = from + (data.length === 0 ? 0 : b % (data.length - from + 1));
        const into = new Uint8Array(at + 32 + 8).fill(0xee);
        new ReusedSha256().digestInto(data.subarray(from, to), into, at);
        expect(into.subarray(at, at + 32)).toEqual(nodeDigest(data.subarray(from, to)));
        expect(into.subarray(0, at).every((x) => x === 0xee) && into.subarray(at + 32).every((x) => x === 0xee)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("knows the FIPS 180-4 examples, and a message of a million bytes", () => {
    const hex = (data: Uint8Array) => {
      const out = new Uint8Array(32);
      new ReusedSha256().digestInto(data, out, 0);
      return Buffer.from(out).toString("hex");
    };
    expect(hex(new TextEncoder().encode("abc"))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(hex(new TextEncoder().encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))).toBe("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    expect(hex(new Uint8Array(1_000_000).fill(0x61))).toBe("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  });
});
