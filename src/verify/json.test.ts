import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildBundle } from "../../test/support/bundles.js";
import { verifyDocument } from "./document.js";
import { ENVELOPE_JSON_LIMITS, isObject, jsonShapeProblem, MAX_JSON_DEPTH, PUBLIC_JSON_LIMITS, readJson, readJsonObject } from "./json.js";

const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

describe("the bounded JSON reader", () => {
  it("reads what JSON.parse reads, up to 64 levels", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 10 }), (value) => {
        const text = JSON.stringify(value);
        expect(readJson(text)).toEqual({ value: JSON.parse(text) });
      }),
    );
    expect(readJson(nested(MAX_JSON_DEPTH))).toHaveProperty("value");
  });

  it("refuses depth 65 before parsing, however deep the rest goes", () => {
    expect(readJson(nested(MAX_JSON_DEPTH + 1))).toEqual({ problem: `is nested deeper than ${MAX_JSON_DEPTH} levels` });
    expect(readJson(`{"a":${"[".repeat(8_000_000)}`)).toEqual({ problem: `is nested deeper than ${MAX_JSON_DEPTH} levels` });
    expect(jsonShapeProblem(nested(3), { maxDepth: 2 })).toMatch(/deeper than 2/);
    expect(jsonShapeProblem(new TextEncoder().encode(`["é", ${nested(65)}]`))).toMatch(/deeper than 64/);
  });

  it("with the envelope limits, refuses a body of more than 64 objects and arrays, however large, at the 65th", () => {
    const envelope = JSON.stringify({ message: { attributes: { a: "b" }, data: "e30=", messageId: "1" }, subscription: "s" });
    expect(readJsonObject(envelope, ENVELOPE_JSON_LIMITS)).toEqual({ value: JSON.parse(envelope) });
    const dense = `{"signedPayload":[${"{},".repeat(300_000)}{}]}`;
    expect(readJson(dense, ENVELOPE_JSON_LIMITS)).toEqual({ problem: "holds more than 64 objects and arrays" });
    expect(jsonShapeProblem(`{"a":${nested(9)}}`, ENVELOPE_JSON_LIMITS)).toMatch(/deeper than 8/);
    // Within the public limits (up to 1,024 objects, then one per 16 characters), yet not an envelope.
    const many = `{"signedPayload":[${'{"k":"padding"},'.repeat(999)}{}]}`;
    expect(readJson(many, PUBLIC_JSON_LIMITS)).toHaveProperty("value");
    expect(readJson(many, ENVELOPE_JSON_LIMITS)).toEqual({ problem: "holds more than 64 objects and arrays" });
  });

  it("scans strings and bytes as the plain character-by-character scan does, backslash runs and unterminated strings included", () => {
    // The oracle: one character at a time, a backslash escaping the next one.
    const oracle = (text: string, maxDepth: number, maxContainers: number) => {
      let depth = 0;
      let containers = 0;
      for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (c === '"') {
          for (i++; i < text.length; i++) {
            if (text[i] === "\\") i++;
            else if (text[i] === '"') break;
          }
        } else if (c === "[" || c === "{") {
          if (++depth > maxDepth) return "deep";
          if (++containers > maxContainers) return "dense";
        } else if (c === "]" || c === "}") depth--;
      }
      return "ok";
    };
    const kind = (problem: string | undefined) => (problem === undefined ? "ok" : /deeper/.test(problem) ? "deep" : "dense");
    fc.assert(
      // Tokens, so that runs of one, two and three backslashes before a quote come up often.
      fc.property(
        fc.array(fc.constantFrom('"', "\\", "\\\\", "\\\\\\", "[", "{", "]", "}", "a"), { maxLength: 40 }).map((tokens) => tokens.join("")),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        (text, maxDepth, maxContainers) => {
          const expected = oracle(text, maxDepth, maxContainers);
          expect(kind(jsonShapeProblem(text, { maxDepth, maxContainers }))).toBe(expected);
          expect(kind(jsonShapeProblem(new TextEncoder().encode(text), { maxDepth, maxContainers }))).toBe(expected);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it("brackets inside strings, escaped quotes included, are text", () => {
    const text = JSON.stringify({ s: "[".repeat(1000) + '\\"{{{' + "{".repeat(1000), t: ["\\", '"'] });
    expect(readJson(text)).toEqual({ value: JSON.parse(text) });
  });

  it("with the public limits, refuses more objects and arrays than the size allows (16 MB of {} would cost 375 MB and 2.5 s)", () => {
    const dense = "[" + "{},".repeat(100_000) + "{}]";
    expect(readJson(dense, PUBLIC_JSON_LIMITS)).toMatchObject({ problem: expect.stringMatching(/more objects and arrays than its size allows/) });
    expect(jsonShapeProblem(new TextEncoder().encode(dense), PUBLIC_JSON_LIMITS)).toMatch(/than its size allows/);
    // Without them (the offline verifier) only the depth is bounded.
    expect(readJson(dense)).toHaveProperty("value");
    // A real bundle is far from the bound.
    const { bundle } = buildBundle({ size: 300, from: 1, to: 300, payloads: true, anchored: true });
    const text = JSON.stringify(bundle);
    expect(text.length / PUBLIC_JSON_LIMITS.charsPerContainer!).toBeGreaterThan(3 * (text.match(/[[{]/g) ?? []).length);
    expect(readJson(text, PUBLIC_JSON_LIMITS)).toHaveProperty("value");
  });

  it("never throws on any text, and names the problem in its own words (V8's message quotes the input)", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: "binary" }),
          fc.json().map((j) => j.slice(0, -1)),
        ),
        (text) => {
          const read = readJson(text);
          if ("problem" in read) expect(read.problem).toMatch(/^(is not JSON|is nested deeper than \d+ levels|holds more objects and arrays than its size allows \(\d+\))$/);
        },
      ),
    );
  });

  it("one JSON object, or why not", () => {
    expect(readJsonObject("[1]")).toEqual({ problem: "is not a JSON object" });
    expect(readJsonObject("{")).toEqual({ problem: "is not JSON" });
    expect(readJsonObject('{"a":1}')).toEqual({ value: { a: 1 } });
    expect([isObject({}), isObject([]), isObject(null), isObject("x")]).toEqual([true, false, false, false]);
  });

  it("the verifier reports an over-deep bundle as a format failure", () => {
    const report = verifyDocument(`{"format":"attesto.bundle.v1","entries":${nested(2_000_000)}}`);
    expect(report.checks[0]).toEqual({ name: "format", status: "fail", detail: `the document is nested deeper than ${MAX_JSON_DEPTH} levels` });
  });
});
