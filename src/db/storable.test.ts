import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { checkStorableJson, checkStorableText, checkStorableTime, jsonProblem, MAX_JSON_DEPTH, MAX_TIME_MS, MIN_TIME_MS, textProblem } from "./storable.js";

describe("what PostgreSQL refuses", () => {
  it("accepts ordinary text, astral characters and paired surrogates", () => {
    for (const s of ["", "plain", "ünïcödé", "😀 emoji", "\ud83d\ude00", "tab\tnewline\n"]) expect(textProblem(s)).toBeUndefined();
  });

  it("refuses NUL and lone surrogates anywhere in a string", () => {
    expect(textProblem("a\u0000b")).toMatch(/NUL/);
    for (const s of ["\ud800", "a\udc00", "\ud83dx", "x\ude00y", "\udbff"]) expect(textProblem(s)).toMatch(/surrogate/);
    expect(() => checkStorableText("n\u0000", "name")).toThrow(/^name: must not contain NUL/);
  });

  it("names the offending JSON value by its path", () => {
    const problem = (v: unknown) => jsonProblem(v, "payload")?.message;
    expect(problem({ a: 1, b: [true, null, "x", { c: 2.5 }] })).toBeUndefined();
    expect(problem({ a: { b: ["ok", "bad\u0000"] } })).toBe("payload.a.b[1]: must not contain NUL (U+0000)");
    expect(problem({ n: Infinity })).toBe("payload.n: must be a finite number");
    expect(problem({ n: [NaN] })).toBe("payload.n[0]: must be a finite number");
    expect(problem({ s: "\ud800" })).toBe("payload.s: must not contain a lone UTF-16 surrogate");
    expect(problem({ "k\u0000": 1 })).toMatch(/^payload\."k\\u0000": key must not contain NUL/);
    expect(jsonProblem({ s: "\ud800" }, "payload")).toBeInstanceOf(AppError);
    expect(jsonProblem({ s: "\ud800" }, "payload")?.details.field).toBe("payload.s");
  });

  it("limits nesting", () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH; i++) deep = [deep];
    expect(jsonProblem(deep, "p")).toBeUndefined();
    expect(() => checkStorableJson([deep], "p")).toThrow(/nested deeper than 64/);
  });

  it("refuses what JSON cannot hold", () => {
    expect(jsonProblem({ f: () => 1 }, "p")?.message).toBe("p.f: is not a JSON value");
    expect(jsonProblem({ u: undefined }, "p")?.message).toBe("p.u: is not a JSON value");
  });

  it("keeps times within years 0001 to 9999", () => {
    expect(new Date(MIN_TIME_MS).toISOString()).toBe("0001-01-01T00:00:00.000Z");
    expect(new Date(MAX_TIME_MS).toISOString()).toBe("9999-12-31T23:59:59.999Z");
    expect(() => checkStorableTime(new Date(MIN_TIME_MS), "t")).not.toThrow();
    expect(() => checkStorableTime(new Date(MAX_TIME_MS), "t")).not.toThrow();
    expect(() => checkStorableTime(new Date(MAX_TIME_MS + 1), "occurred_at")).toThrow(/^occurred_at: must be a time between years 0001 and 9999$/);
    expect(() => checkStorableTime(new Date(MIN_TIME_MS - 1), "t")).toThrow();
    expect(() => checkStorableTime(new Date(NaN), "t")).toThrow();
  });
});
