import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromUtf8, utf8 } from "./bytes.js";
import { JsonBytes } from "./json-bytes.js";
import { jcs, leafBytesOf, leafEnd, writeLeaf, type LeafRecord } from "./leaf.js";

/** The bytes of one written text (and whether it met a lone surrogate), from byte `at`. */
function written(write: (out: JsonBytes) => boolean | void, at = 0): { ok: boolean; bytes: Uint8Array; loneSurrogate: boolean } {
  const out = new JsonBytes();
  // A small buffer makes every growth path run; the bytes before `at` must survive it.
  out.buffer = new Uint8Array(at + 3).fill(0xee);
  out.reset(at);
  const ok = write(out) !== false;
  expect(out.buffer.subarray(0, at).every((b) => b === 0xee)).toBe(true);
  return { ok, bytes: out.buffer.slice(at, out.at), loneSurrogate: out.loneSurrogate };
}

// Strings of every kind JSON.stringify treats apart: ASCII, the escapes, controls, 2-, 3- and 4-byte UTF-8, lone surrogates.
const PIECES = [
  "a",
  "Z",
  " ",
  "~",
  "\x7f",
  '"',
  "\\",
  "/",
  "\b",
  "\t",
  "\n",
  "\f",
  "\r",
  "\x00",
  "\x1f",
  "é",
  "ß",
  "\u07ff",
  "\u0800",
  "€",
  "\uffff",
  "😀",
  "\u{10ffff}",
  "\ud800",
  "\udfff",
  "\udbff",
];
const anyString = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.array(fc.constantFrom(...PIECES)).map((p) => p.join("")),
);
const wellFormed = anyString.filter((s) => s.isWellFormed());
const anyNumber = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.maxSafeInteger(), fc.constantFrom(0, -0, 1e15, -1e15, 1e15 - 1, 1e21, 5e-324, 0.1, -999999999999999));
const parsedValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small" }, fc.constant(null), fc.boolean(), anyNumber, anyString, fc.array(tie("value")), fc.dictionary(anyString, tie("value"))),
})).value;

describe("JsonBytes", () => {
  it("writes a string as the UTF-8 of JSON.stringify, flagging a lone surrogate", () => {
    fc.assert(
      fc.property(anyString, fc.nat(8), (s, at) => {
        const w = written((out) => out.string(s), at);
        expect(fromUtf8(w.bytes)).toBe(JSON.stringify(s));
        expect(w.loneSurrogate).toBe(!s.isWellFormed());
      }),
      { numRuns: 2000 },
    );
  });

  it("writes a finite number as JSON.stringify does", () => {
    fc.assert(
      fc.property(anyNumber, (n) => {
        expect(fromUtf8(written((out) => out.number(n)).bytes)).toBe(JSON.stringify(n));
      }),
      { numRuns: 5000 },
    );
    expect(fromUtf8(written((out) => out.number(-0)).bytes)).toBe("0");
  });

  it("writes the JCS of parsed JSON as the general canonicalizer does, or flags the lone surrogate it refuses", () => {
    fc.assert(
      fc.property(parsedValue, (v) => {
        // Through JSON text, so the value is one JSON.parse makes (own keys, __proto__ included, plain objects).
        const value: unknown = JSON.parse(JSON.stringify(v));
        const w = written((out) => out.jcs(value));
        expect(w.ok).toBe(true);
        let expected: string | undefined;
        try {
          expected = jcs(value);
        } catch {
          expected = undefined;
        }
        if (expected === undefined) expect(w.loneSurrogate).toBe(true);
        else if (!w.loneSurrogate) expect(w.bytes).toEqual(utf8(expected));
      }),
      { numRuns: 1000 },
    );
    const parsed: unknown = JSON.parse('{"b":[1,2.5,-0,"é😀"],"a":{"__proto__":null,"toJSON":"x"},"":true,"\\u0000":false}');
    expect(fromUtf8(written((out) => out.jcs(parsed)).bytes)).toBe(jcs(parsed));
  });

  it("declines what JSON.parse does not make, which the general canonicalizer then decides", () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    let deep: unknown = 1;
    for (let i = 0; i < 1001; i++) deep = [deep];
    for (const value of [undefined, NaN, Infinity, 1n, Symbol("s"), () => 1, new Date(0), { toJSON: () => 1 }, [undefined], { a: undefined }, new Map(), cyclic, deep]) {
      expect(written((out) => out.jcs(value)).ok).toBe(false);
    }
  });
});

describe("writeLeaf", () => {
  const record = fc.record({
    stream_id: wellFormed,
    seq_no: fc.oneof(
      fc.nat(),
      fc.maxSafeInteger().map((n) => Math.max(1, n)),
    ),
    source_ref: anyString,
    event_type: anyString,
    occurred_at: anyString,
    received_at: anyString,
    payload_sha256: anyString,
  });

  it("writes leafBytesOf's bytes (non-ASCII, escapes and lone surrogates included) after the caller's prefix", () => {
    fc.assert(
      fc.property(record, ({ stream_id, ...fields }: LeafRecord) => {
        const w = written((out) => writeLeaf(out, fields, leafEnd(stream_id)), 1);
        expect(w.bytes).toEqual(leafBytesOf({ stream_id, ...fields }));
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses a seq_no that is not a safe integer, as leafText does", () => {
    const fields = { seq_no: 1.5, source_ref: "r", event_type: "t", occurred_at: "o", received_at: "r", payload_sha256: "p" };
    expect(() => written((out) => writeLeaf(out, fields, leafEnd("s")))).toThrow(/seq_no must be an integer/);
  });
});
